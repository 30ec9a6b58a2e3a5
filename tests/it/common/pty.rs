//! A program in a pseudo-terminal, its screen parsed by a terminal emulator (vt100), so
//! tests assert what a person would see. Binary-agnostic: the tests' `Tui::spawn` (in
//! `common/mod.rs`), the benchmarks (`benches/common`) and the screenshots example all
//! drive the real `redtail` through this one driver.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

/// Records what a terminal would have done besides drawing: title changes and
/// clipboard writes must never happen because of a payload.
#[derive(Default)]
pub struct Effects {
    pub titles: Vec<Vec<u8>>,
    pub clipboard: Vec<Vec<u8>>,
}

impl vt100::Callbacks for Effects {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.titles.push(title.to_vec());
    }
    fn set_window_icon_name(&mut self, _: &mut vt100::Screen, name: &[u8]) {
        self.titles.push(name.to_vec());
    }
    fn copy_to_clipboard(&mut self, _: &mut vt100::Screen, _ty: &[u8], data: &[u8]) {
        self.clipboard.push(data.to_vec());
    }
}

/// Whether the driver keeps a copy of everything the program wrote (tests that check the
/// raw escapes) or only feeds the emulator (benchmarks that flood the screen for minutes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    Keep,
    Discard,
}

pub struct Tui {
    parser: Arc<Mutex<vt100::Parser<Effects>>>,
    raw: Arc<Mutex<Vec<u8>>>,
    /// Reads of pty output so far (each read is at least one write by the program).
    pub output_reads: Arc<AtomicU64>,
    pub output_bytes: Arc<AtomicU64>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

/// A handle another thread can read the screen through.
#[derive(Clone)]
pub struct Screen(Arc<Mutex<vt100::Parser<Effects>>>);

impl Screen {
    pub fn contents(&self) -> String {
        self.0
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }
}

impl Tui {
    /// Run `bin args` in a `size` (cols, rows) pty with `TERM=xterm-256color`, without
    /// the caller's REDISCLI_AUTH / NO_COLOR, plus `env`.
    pub fn start(
        bin: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
        (cols, rows): (u16, u16),
        keep: Raw,
    ) -> Tui {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open pty");
        let mut cmd = CommandBuilder::new(bin);
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("REDISCLI_AUTH");
        cmd.env_remove("NO_COLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pty.slave.spawn_command(cmd).expect("spawn in pty");
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let writer = pty.master.take_writer().expect("pty writer");
        let nz = |n: u16| std::num::NonZeroU16::new(n.max(1)).expect("non-zero");
        let parser = Arc::new(Mutex::new(vt100::Parser::new_with_callbacks(
            nz(rows),
            nz(cols),
            0,
            Effects::default(),
        )));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let reads = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let (p, r, rd, by) = (parser.clone(), raw.clone(), reads.clone(), bytes.clone());
        // The master must stay alive while we read; move it into the thread.
        let master = pty.master;
        std::thread::spawn(move || {
            let _keep = master;
            let mut buf = [0u8; 65536];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if keep == Raw::Keep {
                            if let Ok(mut raw) = r.lock() {
                                raw.extend_from_slice(&buf[..n]);
                            }
                        }
                        if let Ok(mut p) = p.lock() {
                            p.process(&buf[..n]);
                        }
                        rd.fetch_add(1, Ordering::Relaxed);
                        by.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
        });
        Tui {
            parser,
            raw,
            output_reads: reads,
            output_bytes: bytes,
            writer,
            child,
        }
    }

    /// A handle another thread can read the screen through.
    pub fn screen_handle(&self) -> Screen {
        Screen(self.parser.clone())
    }

    pub fn screen(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    pub fn with_parser<T>(&self, f: impl FnOnce(&vt100::Parser<Effects>) -> T) -> T {
        let p = self.parser.lock().expect("parser lock");
        f(&p)
    }

    pub fn raw_output(&self) -> Vec<u8> {
        self.raw.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to pty");
        self.writer.flush().expect("flush pty");
        // Keys sent in one write can be read as one sequence (Esc + x = Alt-x).
        std::thread::sleep(Duration::from_millis(60));
    }

    /// Keys now, without the pause [`Tui::send`] leaves (benchmarks time key → screen).
    pub fn send_now(&mut self, bytes: &[u8]) {
        let _ = self.writer.write_all(bytes);
        let _ = self.writer.flush();
    }

    /// Wait until the screen satisfies `pred`; panic with the screen on timeout.
    pub fn wait_until(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Like [`Tui::wait_until`] but polls every 0.5 ms and returns when it held (None, and
    /// a note on stderr, at the deadline): for benchmarks timing what a person would see.
    pub fn poll_until(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.screen()) {
                return Some(Instant::now());
            }
            if Instant::now() > deadline {
                eprintln!("timed out waiting for {what}");
                return None;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// Press q and reap the process (killed if it does not exit within 5 s).
    pub fn quit(mut self) {
        self.send_now(b"q");
        if self.wait_exit(Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
        }
    }

    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        self.wait_until(&format!("{text:?} on screen"), timeout, |s| {
            s.contains(text)
        })
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<u32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.exit_code());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.process_id().expect("child pid")
    }

    pub fn alternate_screen(&self) -> bool {
        self.with_parser(|p| p.screen().alternate_screen())
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
