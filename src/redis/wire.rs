//! The raw connection: TCP (or TLS) to one server with AUTH, CLIENT SETNAME and SELECT
//! done, spoken to with our own RESP reader ([`super::resp`]) instead of redis-rs. The
//! subscriber reads its frames on it; the streams poller sends its pipelined rounds on it
//! ([`RawConn::round`]) and parses the replies straight into its structs.

use std::ops::Range;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::conn::{Refusal, Target, CONNECT_TIMEOUT};
use super::error::{PollError, PollErrorKind};
use super::resp::{self, Frame, Parse};
use super::tls;
use crate::text::escape::escape_line;

/// What to say on a fresh connection besides AUTH.
pub(crate) struct Hello<'a> {
    pub client_name: &'a str,
    /// SELECT this database (command connections; Pub/Sub ignores databases).
    pub db: Option<i64>,
}

/// A raw socket to a server: plain TCP, or TLS over it. The TLS stream is boxed because
/// it is large (rustls buffers) and the plain variant should stay small.
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Open a raw socket: TCP connect, TLS handshake (for rediss:// or --tls), AUTH, CLIENT
/// SETNAME (and SELECT when asked) — each bounded by a timeout so an unreachable or
/// silent host is reported in seconds.
pub(crate) async fn connect(hello_with: &Hello<'_>, target: &Target) -> Result<Conn> {
    // Build the TLS config before connecting: a bad --cacert is reported without
    // touching the network.
    let tls_config = if target.tls {
        Some(tls::client_config(target)?)
    } else {
        None
    };
    let addr = target.addr();
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
        .await
        .map_err(|_| {
            anyhow!(
                "cannot connect to {target}: no answer within {} s (is the host reachable and the port right?)",
                CONNECT_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| anyhow!("cannot connect to {target}: {e}"))?;
    stream.set_nodelay(true).ok();
    let Some(tls_config) = tls_config else {
        let mut stream = stream;
        hello(hello_with, target, &mut stream).await.map_err(|e| {
            // A TLS-only port drops (or resets) a client that speaks plain RESP to it.
            let text = format!("{e:#}");
            if text.contains("closed the connection") || text.contains("reset by peer") {
                anyhow!("{e:#} (if {addr} expects TLS, use a rediss:// URL or --tls)")
            } else {
                e
            }
        })?;
        return Ok(Conn::Plain(stream));
    };
    let mut stream =
        tokio::time::timeout(CONNECT_TIMEOUT, tls::handshake(target, tls_config, stream))
            .await
            .map_err(|_| {
                anyhow!(
                    "TLS handshake with {addr} did not finish within {} s (is {addr} a TLS port?)",
                    CONNECT_TIMEOUT.as_secs()
                )
            })??;
    // With TLS 1.3 the server checks our client certificate after the handshake has
    // finished on our side, so its refusal arrives as an alert on the first read here.
    hello(hello_with, target, &mut stream).await.map_err(|e| {
        let text = format!("{e:#}");
        if tls::advice(&text).is_some() {
            anyhow!("TLS session with {addr} failed: {}", tls::with_advice(&text))
        } else if text.contains("closed the connection") {
            anyhow!(
                "{text} (a TLS server that requires a client certificate does this: pass --cert and --key)"
            )
        } else {
            e
        }
    })?;
    Ok(Conn::Tls(Box::new(stream)))
}

/// AUTH (if a password is set), CLIENT SETNAME and SELECT (if asked) on a fresh
/// connection, checking the replies.
async fn hello<S>(hello_with: &Hello<'_>, target: &Target, stream: &mut S) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut out = Vec::new();
    if let Some(password) = &target.password {
        match &target.username {
            Some(user) => {
                resp::encode_command(&[b"AUTH", user.as_bytes(), password.as_bytes()], &mut out)
            }
            None => resp::encode_command(&[b"AUTH", password.as_bytes()], &mut out),
        }
    }
    resp::encode_command(
        &[b"CLIENT", b"SETNAME", hello_with.client_name.as_bytes()],
        &mut out,
    );
    let select = hello_with.db.map(|db| db.to_string());
    if let Some(db) = &select {
        resp::encode_command(&[b"SELECT", db.as_bytes()], &mut out);
    }
    // Causes go into the message itself: the engine reports `to_string()`, which would
    // drop an anyhow context chain.
    stream
        .write_all(&out)
        .await
        .map_err(|e| anyhow!("sending AUTH failed: {e}"))?;
    let mut buf = BytesMut::with_capacity(4096);
    let auth = usize::from(target.password.is_some());
    let expected = auth + 1 + usize::from(select.is_some());
    for i in 0..expected {
        let frame = tokio::time::timeout(CONNECT_TIMEOUT, read_frame(target, stream, &mut buf))
            .await
            .map_err(|_| {
                anyhow!(
                    "cannot connect to {target}: the server did not answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )
            })??;
        if let Frame::Error(r) = frame {
            let text = escape_line(&buf[r]).into_owned();
            let is_auth = target.password.is_some() && i == 0;
            if is_auth {
                return Err(Refusal::auth(target, text).into());
            }
            if text.starts_with("NOAUTH") {
                let detail = format!("the server requires a password and none was given: {text}");
                return Err(Refusal::auth(target, detail).into());
            }
            if i == expected - 1 {
                if let Some(db) = &select {
                    bail!(
                        "cannot connect to {target}: SELECT {db} refused: {text} — check the \
                         database number in the URL or --db (the server's `databases` setting)"
                    );
                }
            }
            // CLIENT SETNAME may be denied by ACL; that is not a reason to fail.
        }
        // Drop the consumed frame.
        let used = match resp::parse(&buf).map_err(|_| Refusal::not_redis(target, &buf))? {
            Parse::Complete(_, used) => used,
            Parse::Incomplete { .. } => 0,
        };
        buf.advance(used);
    }
    Ok(())
}

/// Read until one whole frame is in `buf` (not consumed). Bytes that are not RESP mean
/// something else listens on the port (an HTTP server, another protocol).
async fn read_frame<S: AsyncRead + Unpin>(
    target: &Target,
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<Frame> {
    loop {
        let parsed = resp::parse(buf).map_err(|_| Refusal::not_redis(target, buf))?;
        if let Parse::Complete(frame, _) = parsed {
            return Ok(frame);
        }
        let n = stream
            .read_buf(buf)
            .await
            .map_err(|e| anyhow!("reading from server failed: {e}"))?;
        if n == 0 {
            bail!("the server closed the connection during the handshake");
        }
    }
}

/// How long a round may go without the server sending (or taking) a byte before the
/// connection counts as lost: the command connection's response timeout.
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A command connection on a raw socket, for pipelined rounds whose replies we parse
/// ourselves. After a failed round the connection is not used again (its replies would
/// be out of step): every later round fails as a lost connection, so the owner reconnects.
pub struct RawConn {
    conn: Conn,
    broken: Option<String>,
}

/// The replies of one round: the bytes as read, and where each reply lies in them.
pub(crate) struct Replies {
    buf: BytesMut,
    frames: Vec<Range<usize>>,
}

impl Replies {
    /// Each reply in order: exactly one whole RESP value.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.frames.iter().map(|r| &self.buf[r.clone()])
    }
}

impl RawConn {
    /// Connect, log in and SELECT the target's database (as the command connection does).
    pub async fn open(target: &Target, client_name: &str) -> Result<RawConn> {
        let hello = Hello {
            client_name,
            db: (target.db != 0).then_some(target.db),
        };
        let conn = connect(&hello, target).await?;
        Ok(RawConn { conn, broken: None })
    }

    /// Send `commands` (`count` of them, RESP-encoded back to back) in one write and read
    /// exactly `count` replies: one round trip. Error replies are replies like any other
    /// (the caller reads each one where it belongs); a lost connection, a silent server
    /// or bytes that are not RESP fail the whole round, as a lost connection.
    pub(crate) async fn round(
        &mut self,
        commands: &[u8],
        count: usize,
        what: &str,
    ) -> Result<Replies, PollError> {
        if let Some(why) = &self.broken {
            return Err(lost(what, why));
        }
        let result = match &mut self.conn {
            Conn::Plain(tcp) => {
                let (rd, wr) = tcp.split();
                exchange(rd, wr, commands, count).await
            }
            Conn::Tls(tls) => {
                let (rd, wr) = tokio::io::split(&mut **tls);
                exchange(rd, wr, commands, count).await
            }
        };
        result.map_err(|why| {
            let e = lost(what, &why);
            self.broken = Some(why);
            e
        })
    }
}

fn lost(what: &str, why: &str) -> PollError {
    PollError {
        command: what.to_string(),
        kind: PollErrorKind::Connection,
        message: format!("{what} failed: lost the connection: {why}"),
    }
}

/// Write and read at once, so neither side's buffers fill up and stall the other.
async fn exchange<R, W>(rd: R, mut wr: W, commands: &[u8], count: usize) -> Result<Replies, String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let send = async {
        tokio::time::timeout(RESPONSE_TIMEOUT, async {
            wr.write_all(commands).await?;
            wr.flush().await
        })
        .await
        .map_err(|_| silent())?
        .map_err(|e| format!("sending failed: {e}"))
    };
    let (sent, replies) = tokio::join!(send, read_replies(rd, count));
    sent?;
    replies
}

fn silent() -> String {
    format!(
        "the server did not answer within {} s",
        RESPONSE_TIMEOUT.as_secs()
    )
}

/// Read until `count` whole replies are in the buffer, noting where each one ends. The
/// scan resumes where it stopped when more bytes arrive, so a huge reply read in many
/// pieces costs linear time.
async fn read_replies<R: AsyncRead + Unpin>(mut rd: R, count: usize) -> Result<Replies, String> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut frames = Vec::with_capacity(count);
    let mut scan = resp::Skipper::at(0);
    let mut pos = 0;
    loop {
        while frames.len() < count {
            match scan.advance(&buf) {
                Ok(true) => {
                    frames.push(pos..scan.pos());
                    pos = scan.pos();
                    scan = resp::Skipper::at(pos);
                }
                Ok(false) => break,
                Err(e) => return Err(format!("the reply is not RESP ({e})")),
            }
        }
        if frames.len() == count {
            break;
        }
        buf.reserve(64 * 1024);
        let n = tokio::time::timeout(RESPONSE_TIMEOUT, rd.read_buf(&mut buf))
            .await
            .map_err(|_| silent())?
            .map_err(|e| format!("reading failed: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
    }
    if pos != buf.len() {
        return Err(format!(
            "{} bytes beyond the {count} replies expected",
            buf.len() - pos
        ));
    }
    Ok(Replies { buf, frames })
}

/// Commands for one round, RESP-encoded back to back as they are added.
#[derive(Default)]
pub(crate) struct Commands {
    bytes: Vec<u8>,
    count: usize,
}

impl Commands {
    pub fn push(&mut self, args: &[&[u8]]) {
        use std::io::Write;
        // Writing into a Vec cannot fail.
        let _ = write!(self.bytes, "*{}\r\n", args.len());
        for arg in args {
            let _ = write!(self.bytes, "${}\r\n", arg.len());
            self.bytes.extend_from_slice(arg);
            self.bytes.extend_from_slice(b"\r\n");
        }
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_encode_like_the_subscriber_does() {
        let mut c = Commands::default();
        c.push(&[b"XINFO", b"GROUPS", b"a\r\nb"]);
        c.push(&[b"TIME"]);
        let mut expected = Vec::new();
        resp::encode_command(&[b"XINFO", b"GROUPS", b"a\r\nb"], &mut expected);
        resp::encode_command(&[b"TIME"], &mut expected);
        assert_eq!(c.bytes(), expected.as_slice());
        assert_eq!(c.len(), 2);
    }

    /// Replies trickling in one byte at a time are delimited exactly (error replies are
    /// replies too); a socket that closes early, or says more than was asked, fails.
    #[tokio::test]
    async fn replies_are_delimited_whatever_the_reads_and_extra_bytes_fail() {
        let replies: &[u8] = b"*2\r\n:1\r\n$3\r\nabc\r\n-NOPERM no\r\n%1\r\n+a\r\n_\r\n";
        let (mut tx, rx) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move {
            tx.write_all(replies).await.expect("write");
        });
        let got = read_replies(rx, 3).await.expect("three replies");
        writer.await.expect("writer");
        let parts: Vec<&[u8]> = got.iter().collect();
        assert_eq!(
            parts,
            vec![
                &b"*2\r\n:1\r\n$3\r\nabc\r\n"[..],
                b"-NOPERM no\r\n",
                b"%1\r\n+a\r\n_\r\n"
            ]
        );
        let closed = read_replies(&b"*2\r\n:1\r\n"[..], 1).await;
        assert!(closed.is_err_and(|e| e.contains("closed")));
        let extra = read_replies(&b":1\r\n:2\r\n"[..], 1).await;
        assert!(extra.is_err_and(|e| e.contains("beyond")));
        let garbage = read_replies(&b"HTTP/1.1 400\r\n"[..], 1).await;
        assert!(garbage.is_err_and(|e| e.contains("not RESP")));
    }
}
