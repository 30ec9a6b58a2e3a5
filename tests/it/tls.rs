//! TLS (`rediss://`, `--tls`, `--cacert`, `--cert`/`--key`, `--insecure`) against a real
//! TLS-only redis-server, with a throwaway CA, server and client certificate made by
//! `openssl` for each test. Without `openssl` the tests print SKIP and pass.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, wait_for, Proc};

const T: Duration = Duration::from_secs(10);

/// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, in a
/// temp dir. EC P-256 keys: much faster to make than RSA, and rustls/ring accept them.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    /// None when `openssl` is not installed (the caller skips).
    fn make() -> Option<Certs> {
        if Command::new("openssl")
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            println!("SKIP: openssl not found; TLS tests need it to make certificates");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write server.ext");
        std::fs::write(
            d.join("client.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
        )
        .expect("write client.ext");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        openssl(
            d,
            &[
                &["req", "-x509"],
                &ec[..],
                &[
                    "-nodes",
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=redtail test CA",
                ],
            ]
            .concat(),
        );
        for (name, cn) in [
            ("server", "/CN=localhost"),
            ("client", "/CN=redtail test client"),
        ] {
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let pem = format!("{name}.pem");
            let ext = format!("{name}.ext");
            openssl(
                d,
                &[
                    &["req"],
                    &ec[..],
                    &["-nodes", "-keyout", &key, "-out", &csr, "-subj", cn],
                ]
                .concat(),
            );
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                ],
            );
        }
        // A second CA that signed nothing here: trusting it must not be enough.
        openssl(
            d,
            &[
                &["req", "-x509"],
                &ec[..],
                &[
                    "-nodes",
                    "-keyout",
                    "other.key",
                    "-out",
                    "other.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=unrelated CA",
                ],
            ]
            .concat(),
        );
        Some(Certs { dir })
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A redis-server listening only on a TLS port (`--port 0`), killed on drop.
struct TlsServer {
    port: u16,
    certs: Certs,
    password: Option<String>,
    client_auth: bool,
    child: Child,
    _data: tempfile::TempDir,
}

impl TlsServer {
    fn start(client_auth: bool, password: Option<&str>) -> Option<TlsServer> {
        let certs = Certs::make()?;
        let data = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--protected-mode", "no", "--dir"])
            .arg(data.path())
            .args(["--tls-cert-file", &certs.path("server.pem")])
            .args(["--tls-key-file", &certs.path("server.key")])
            .args(["--tls-ca-cert-file", &certs.path("ca.pem")])
            .args(["--tls-auth-clients", if client_auth { "yes" } else { "no" }]);
        if let Some(pw) = password {
            cmd.args(["--requirepass", pw]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (install redis-server)");
        let server = TlsServer {
            port,
            certs,
            password: password.map(str::to_string),
            client_auth,
            child,
            _data: data,
        };
        // The harness's readiness check speaks plain RESP; ask over TLS instead.
        let deadline = Instant::now() + T;
        while !server.cli(&["PING"]).contains("PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server did not come up with TLS on port {port} (built without TLS?)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// redis-cli over TLS (with the client certificate and password when needed).
    fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["--tls", "--cacert", &self.certs.path("ca.pem")])
            .args(["-p", &self.port.to_string()]);
        if self.client_auth {
            cmd.args(["--cert", &self.certs.path("client.pem")])
                .args(["--key", &self.certs.path("client.key")]);
        }
        if let Some(pw) = &self.password {
            cmd.args(["--no-auth-warning", "-a", pw]);
        }
        let out = cmd.args(args).output().expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_subscribers(&self, channel: &str, n: usize) {
        wait_for("redtail to subscribe over TLS", T, || {
            let out = self.cli(&["PUBSUB", "NUMSUB", channel]);
            let count = out
                .lines()
                .nth(1)
                .and_then(|l| l.trim().parse::<usize>().ok());
            (count >= Some(n)).then_some(())
        });
    }

    fn client_flags(&self) -> Vec<String> {
        vec![
            "--cert".into(),
            self.certs.path("client.pem"),
            "--key".into(),
            self.certs.path("client.key"),
        ]
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Run redtail to completion (bounded), collecting both streams.
fn run(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let mut p = Proc::spawn(&args);
    let code = p
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("redtail {args:?} did not exit; stderr: {}", p.stderr()));
    let took = started.elapsed();
    let mut stdout = String::new();
    while let Some(l) = p.line(Duration::from_secs(2)) {
        stdout.push_str(&l);
        stdout.push('\n');
    }
    // The stderr reader may still be appending the last line.
    std::thread::sleep(Duration::from_millis(100));
    Output {
        code,
        stdout,
        stderr: p.stderr(),
        took,
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[test]
fn tail_receives_over_tls_with_cacert() {
    let Some(server) = TlsServer::start(false, None) else {
        return;
    };
    let ca = server.certs.path("ca.pem");
    let url = server.url();
    let p = Proc::spawn(&[
        "tail", &url, "--cacert", &ca, "-c", "x", "--format", "jsonl",
    ]);
    server.wait_subscribers("x", 1);
    assert_eq!(server.cli(&["PUBLISH", "x", "hi"]).trim(), "1");
    let v = p.json_line(T);
    assert_eq!(v["channel"], "x", "{v}");
    assert_eq!(v["payload"], "hi", "{v}");

    // `--tls` on a redis:// URL means the same as rediss://.
    let plain_url = url.replacen("rediss://", "redis://", 1);
    let p2 = Proc::spawn(&[
        "tail", &plain_url, "--tls", "--cacert", &ca, "-c", "y", "--format", "jsonl",
    ]);
    server.wait_subscribers("y", 1);
    server.cli(&["PUBLISH", "y", "over --tls"]);
    assert_eq!(p2.json_line(T)["payload"], "over --tls");
}

#[test]
fn stats_and_publish_use_tls_command_connections() {
    let Some(server) = TlsServer::start(false, None) else {
        return;
    };
    let ca = server.certs.path("ca.pem");
    let url = server.url();
    let out = run(&strings(&["stats", &url, "--cacert", &ca, "--json"]));
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stats --json is not JSON ({e}): {}", out.stdout));
    assert_eq!(doc["server"], url.as_str(), "{doc}");

    let tail = Proc::spawn(&[
        "tail", &url, "--cacert", &ca, "-c", "news", "--format", "jsonl",
    ]);
    server.wait_subscribers("news", 1);
    let out = run(&strings(&[
        "publish",
        "--url",
        &url,
        "--cacert",
        &ca,
        "news",
        "from redtail",
    ]));
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "1", "receivers; stderr: {}", out.stderr);
    assert_eq!(tail.json_line(T)["payload"], "from redtail");
}

#[test]
fn untrusted_server_certificate_fails_fast_and_says_cacert() {
    let Some(server) = TlsServer::start(false, None) else {
        return;
    };
    let url = server.url();
    // No --cacert (the bundled public roots do not know the test CA), and a CA that
    // did not sign the server's certificate.
    for extra in [
        vec![],
        vec!["--cacert".to_string(), server.certs.path("other.pem")],
    ] {
        for cmd in ["tail", "stats"] {
            let mut args = strings(&[cmd, &url]);
            if cmd == "tail" {
                args.extend(strings(&["-c", "x"]));
            }
            args.extend(extra.clone());
            let out = run(&args);
            assert_eq!(out.code, 1, "{args:?}: stderr {}", out.stderr);
            assert!(
                out.took < Duration::from_secs(8),
                "{args:?} took {:?}",
                out.took
            );
            assert!(
                out.stderr.contains("UnknownIssuer") && out.stderr.contains("--cacert"),
                "{args:?}: {}",
                out.stderr
            );
        }
    }
    // A missing --cacert file names the flag and the file.
    let out = run(&strings(&[
        "tail",
        &url,
        "-c",
        "x",
        "--cacert",
        "/nonexistent/ca.pem",
    ]));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("--cacert") && out.stderr.contains("/nonexistent/ca.pem"),
        "{}",
        out.stderr
    );
}

#[test]
fn insecure_skips_verification_and_warns() {
    let Some(server) = TlsServer::start(false, None) else {
        return;
    };
    let out = run(&strings(&["stats", &server.url(), "--insecure"]));
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("WARNING") && out.stderr.contains("--insecure"),
        "{}",
        out.stderr
    );
    let p = Proc::spawn(&[
        "tail",
        &server.url(),
        "--insecure",
        "-c",
        "x",
        "--format",
        "jsonl",
    ]);
    server.wait_subscribers("x", 1);
    server.cli(&["PUBLISH", "x", "unverified"]);
    assert_eq!(p.json_line(T)["payload"], "unverified");
}

#[test]
fn tls_flags_without_tls_are_refused() {
    let out = run(&strings(&[
        "tail",
        "redis://127.0.0.1:1",
        "-c",
        "x",
        "--cacert",
        "ca.pem",
    ]));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("rediss://"), "{}", out.stderr);
    let out = run(&strings(&[
        "stats",
        "rediss://127.0.0.1:1",
        "--cert",
        "c.pem",
    ]));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("--key"), "{}", out.stderr);
}

#[test]
fn plain_client_on_tls_port_suggests_tls() {
    let Some(server) = TlsServer::start(false, None) else {
        return;
    };
    let plain = format!("redis://127.0.0.1:{}", server.port);
    let out = run(&strings(&["tail", &plain, "-c", "x"]));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("--tls"), "{}", out.stderr);
}

#[test]
fn client_certificate_required_works_with_cert_and_key_and_fails_clearly_without() {
    let Some(server) = TlsServer::start(true, None) else {
        return;
    };
    let ca = server.certs.path("ca.pem");
    let url = server.url();
    for cmd in ["tail", "stats"] {
        let mut args = strings(&[cmd, &url, "--cacert", &ca]);
        if cmd == "tail" {
            args.extend(strings(&["-c", "x"]));
        }
        let out = run(&args);
        assert_eq!(out.code, 1, "{cmd}: {}", out.stderr);
        assert!(
            out.took < Duration::from_secs(8),
            "{cmd} took {:?}",
            out.took
        );
        assert!(
            out.stderr.contains("client certificate") && out.stderr.contains("--cert"),
            "{cmd}: {}",
            out.stderr
        );
    }

    let mut args = strings(&[
        "tail", &url, "--cacert", &ca, "-c", "x", "--format", "jsonl",
    ]);
    args.extend(server.client_flags());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = Proc::spawn(&argv);
    server.wait_subscribers("x", 1);
    server.cli(&["PUBLISH", "x", "mutual"]);
    assert_eq!(p.json_line(T)["payload"], "mutual");

    let mut args = strings(&["stats", &url, "--cacert", &ca, "--json"]);
    args.extend(server.client_flags());
    let out = run(&args);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
}

#[test]
fn password_in_rediss_url_never_appears_in_output() {
    const PW: &str = "Tls-s3cret-Pw-91";
    let Some(server) = TlsServer::start(false, Some(PW)) else {
        return;
    };
    let ca = server.certs.path("ca.pem");
    let url = format!("rediss://default:{PW}@127.0.0.1:{}", server.port);
    let mut seen = String::new();

    let p = Proc::spawn(&[
        "tail", &url, "--cacert", &ca, "-c", "x", "--format", "jsonl",
    ]);
    server.wait_subscribers("x", 1);
    server.cli(&["PUBLISH", "x", "secret-free"]);
    let v = p.json_line(T);
    assert_eq!(v["payload"], "secret-free");
    seen.push_str(&v.to_string());

    let runs = [
        strings(&["stats", &url, "--cacert", &ca, "--json"]),
        strings(&["stats", &url, "--cacert", &ca]),
        strings(&["publish", "--url", &url, "--cacert", &ca, "x", "again"]),
        // Failures too: untrusted certificate, wrong password, nothing listening.
        strings(&["stats", &url]),
        strings(&["tail", &url, "-c", "x"]),
        strings(&[
            "tail",
            &url.replace(PW, "wrong-pass"),
            "--cacert",
            &ca,
            "-c",
            "x",
        ]),
        strings(&[
            "stats",
            &format!("rediss://u:{PW}@127.0.0.1:{}", free_port()),
            "--cacert",
            &ca,
        ]),
    ];
    let mut codes = Vec::new();
    for args in &runs {
        let out = run(args);
        codes.push(out.code);
        seen.push_str(&out.stdout);
        seen.push_str(&out.stderr);
    }
    assert_eq!(
        codes,
        [0, 0, 0, 1, 1, 1, 1],
        "good runs succeed, bad ones fail: {seen}"
    );
    assert!(seen.contains("rediss://default@127.0.0.1"), "{seen}");
    assert!(!seen.contains(PW), "password leaked: {seen}");
}

/// The streams poll reads its rounds on its own raw socket: it must do what the
/// command connection does — TLS with a client certificate, AUTH, and SELECT the URL's
/// database (streams in another database are not listed).
#[test]
fn streams_poll_over_tls_with_client_certificate_password_and_database() {
    const PW: &str = "poll-pw";
    let Some(server) = TlsServer::start(true, Some(PW)) else {
        return;
    };
    server.cli(&["-n", "3", "XADD", "orders", "1-1", "f", "v"]);
    server.cli(&["-n", "3", "XGROUP", "CREATE", "orders", "billing", "0"]);
    server.cli(&[
        "-n",
        "3",
        "XREADGROUP",
        "GROUP",
        "billing",
        "ann",
        "COUNT",
        "1",
        "STREAMS",
        "orders",
        ">",
    ]);
    server.cli(&["XADD", "db0-only", "1-1", "f", "v"]);
    let ca = server.certs.path("ca.pem");
    let url = format!("rediss://:{PW}@127.0.0.1:{}/3", server.port);
    let mut args = strings(&["stats", &url, "--cacert", &ca, "--json"]);
    args.extend(server.client_flags());
    let out = run(&args);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stats --json is not JSON ({e}): {}", out.stdout));
    let streams = doc["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), 1, "only database 3's stream: {doc:#}");
    assert_eq!(streams[0]["key"], "orders");
    assert_eq!(streams[0]["groups"][0]["name"], "billing");
    assert_eq!(streams[0]["groups"][0]["pending"], 1);
    assert_eq!(streams[0]["groups"][0]["consumer_list"][0]["name"], "ann");
    assert!(!out.stdout.contains(PW) && !out.stderr.contains(PW));
}
