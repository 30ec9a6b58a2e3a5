//! Regenerates the README's screenshots: runs the real `redtail demo` in a pseudo-terminal,
//! visits each pane, and renders the terminal screen (as parsed by the vt100 emulator,
//! colours included) to SVG files under `screenshots/`.
//!
//! Run: `cargo run --release --example screenshots` (needs redis-server on PATH; the demo
//! starts and stops its own). Names after `--` regenerate only those scenes
//! (`-- keyspace`, `-- decoded`; `-- problems`: the Problems list over an incident injected into the demo).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

#[path = "../tests/it/common/pty.rs"]
mod pty;

/// A step that may fail with any error.
type Fallible = Result<(), Box<dyn std::error::Error>>;

const COLS: u16 = 140;
const ROWS: u16 = 40;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join("target/release/redtail");
    let bin = if bin.exists() {
        bin
    } else {
        root.join("target/debug/redtail")
    };
    if !bin.exists() {
        return Err("build redtail first: cargo build --release".into());
    }
    // Shot names after `--` take only those (`-- decoded`, `-- problems`); none: all.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| a != "--").collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    // Pending: choose the inference queue's group (Ctrl-U clears a prefilled target).
    // Keyspace: follow every key's churn in the demo, then the keys table.
    // Decoded: the Socket.IO MessagePack channel, paused on a message, opened (`?`
    // first closes the help overlay of the shot before).
    let shots: [(&str, &[u8]); 7] = [
        ("feed", b"1"),
        ("channels", b"2"),
        ("streams", b"3"),
        ("pending", b"4t\x15ai:inference:queue inference-workers\r"),
        ("keyspace", b"5s* set,expire,expired,del\r"),
        ("help", b"1?"),
        ("decoded", b"?1/ch:socket.io*\r k\r"),
    ];
    let shots: Vec<(&str, &[u8])> = shots.into_iter().filter(|(n, _)| wanted(n)).collect();
    if !shots.is_empty() {
        session(root, &bin, &["demo"], &shots)?;
    }
    // The same workload on a private Redis Cluster: the nodes view of the Channels pane.
    if wanted("cluster") {
        session(root, &bin, &["demo", "--cluster"], &[("cluster", b"2n")])?;
    }
    if wanted("problems") {
        problems(root, &bin)?;
    }
    Ok(())
}

/// The Problems list: the demo's workload plus an incident injected with redis-cli once
/// the demo's port is on screen (a poison entry, a deleted pending entry, a worker that
/// died holding entries, a group nobody reads), with a 15 s zombie threshold.
fn problems(
    root: &std::path::Path,
    bin: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    session_with(
        root,
        bin,
        &["--zombie-after", "15s", "demo"],
        &[("problems", b"!")],
        &inject_incident,
    )
}

fn inject_incident(screen: &str) -> Result<(), Box<dyn std::error::Error>> {
    let port = screen
        .split("redis://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .ok_or("no demo port on screen")?
        .to_string();
    let cli = |args: &[&str]| -> Result<String, Box<dyn std::error::Error>> {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &port])
            .args(args)
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let ids: Vec<String> = (0..6)
        .map(|i| {
            cli(&[
                "XADD",
                "payments:charges",
                "*",
                "order",
                &format!("A-{}", 1040 + i),
            ])
        })
        .collect::<Result<_, _>>()?;
    cli(&["XGROUP", "CREATE", "payments:charges", "settlement", "0"])?;
    let read = |consumer: &str, count: &str| {
        cli(&[
            "XREADGROUP",
            "GROUP",
            "settlement",
            consumer,
            "COUNT",
            count,
            "STREAMS",
            "payments:charges",
            ">",
        ])
    };
    read("settle-2", "4")?;
    for _ in 0..7 {
        cli(&[
            "XCLAIM",
            "payments:charges",
            "settlement",
            "settle-2",
            "0",
            &ids[0],
        ])?;
    }
    cli(&["XDEL", "payments:charges", &ids[1]])?;
    for i in 0..3 {
        cli(&["XADD", "payments:refunds", "*", "order", &format!("R-{i}")])?;
    }
    cli(&["XGROUP", "CREATE", "payments:refunds", "refunders", "0"])?;
    // settle-1 stays alive: it takes the next entry after the zombie threshold.
    std::thread::sleep(Duration::from_secs(9));
    read("settle-1", "1")?;
    Ok(())
}

/// Run redtail with `args` in a pty, let the workload build up, then for each shot send
/// its keys and write `screenshots/<name>.svg` (and a PNG when possible).
fn session(
    root: &std::path::Path,
    bin: &std::path::Path,
    args: &[&str],
    shots: &[(&str, &[u8])],
) -> Result<(), Box<dyn std::error::Error>> {
    session_with(root, bin, args, shots, &|_| Ok(()))
}

/// [`session`] with `prepare` run on the first connected screen, before the wait.
fn session_with(
    root: &std::path::Path,
    bin: &std::path::Path,
    args: &[&str],
    shots: &[(&str, &[u8])],
    prepare: &dyn Fn(&str) -> Fallible,
) -> Result<(), Box<dyn std::error::Error>> {
    // The test kit's pty driver (tests/it/common/pty.rs), in the demo's window size.
    let mut tui = pty::Tui::start(bin, args, &[], (COLS, ROWS), pty::Raw::Discard);
    let wait = |what: &str, pred: &dyn Fn(&str) -> bool| -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if pred(&tui.screen()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("timed out waiting for {what}:\n{}", tui.screen()))
    };
    wait("the demo to connect", &|s| s.contains("connected"))?;
    prepare(&tui.screen())?;
    // Let the workload build up some history, lag and pending entries.
    std::thread::sleep(Duration::from_secs(8));
    std::fs::create_dir_all(root.join("screenshots"))?;
    for &(name, key) in shots {
        tui.send_now(key);
        std::thread::sleep(Duration::from_millis(2500));
        let svg = tui.with_parser(|p| render_svg(p.screen()));
        let path = root.join("screenshots").join(format!("{name}.svg"));
        std::fs::write(&path, svg)?;
        println!("wrote {}", path.display());
        to_png(&path);
    }
    tui.send_now(b"\x1b");
    std::thread::sleep(Duration::from_millis(100));
    tui.quit();
    Ok(())
}

/// A PNG beside the SVG when `rsvg-convert` (Debian: librsvg2-bin) is installed.
fn to_png(svg: &std::path::Path) {
    let png = svg.with_extension("png");
    match std::process::Command::new("rsvg-convert")
        .arg(svg)
        .arg("-o")
        .arg(&png)
        .status()
    {
        Ok(s) if s.success() => println!("wrote {}", png.display()),
        _ => println!("(no PNG for {}: rsvg-convert not available)", svg.display()),
    }
}

fn xterm_rgb(idx: u8) -> (u8, u8, u8) {
    const BASE: [(u8, u8, u8); 16] = [
        (0x1d, 0x1f, 0x21),
        (0xcc, 0x66, 0x66),
        (0xb5, 0xbd, 0x68),
        (0xf0, 0xc6, 0x74),
        (0x81, 0xa2, 0xbe),
        (0xb2, 0x94, 0xbb),
        (0x8a, 0xbe, 0xb7),
        (0xc5, 0xc8, 0xc6),
        (0x66, 0x66, 0x66),
        (0xd5, 0x4e, 0x53),
        (0xb9, 0xca, 0x4a),
        (0xe7, 0xc5, 0x47),
        (0x7a, 0xa6, 0xda),
        (0xc3, 0x97, 0xd8),
        (0x70, 0xc0, 0xb1),
        (0xea, 0xea, 0xea),
    ];
    match idx {
        0..=15 => BASE[idx as usize],
        16..=231 => {
            let i = idx - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            (level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        _ => {
            let g = 8 + (idx - 232) * 10;
            (g, g, g)
        }
    }
}

fn color(c: vt100::Color, default: (u8, u8, u8)) -> String {
    let (r, g, b) = match c {
        vt100::Color::Default => default,
        vt100::Color::Idx(i) => xterm_rgb(i),
        vt100::Color::Rgb(r, g, b) => (r, g, b),
    };
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Terminal cells → SVG: a background rect per run of equal background, a text span per
/// run of equal style. Monospace metrics: 8.4 × 17 px per cell.
fn render_svg(screen: &vt100::Screen) -> String {
    let (cw, ch) = (8.4_f64, 17.0_f64);
    let (bg0, fg0) = ((0x1d, 0x1f, 0x21), (0xc5, 0xc8, 0xc6));
    let (rows, cols) = screen.size();
    let (rows, cols): (u16, u16) = (rows.into(), cols.into());
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14"><rect width="100%" height="100%" fill="{}"/>"#,
        f64::from(cols) * cw + 16.0,
        f64::from(rows) * ch + 16.0,
        color(vt100::Color::Default, bg0)
    );
    for row in 0..rows {
        let y = 8.0 + f64::from(row) * ch;
        let mut col = 0;
        while col < cols {
            let Some(cell) = screen.cell(row, col) else {
                break;
            };
            let (mut fg, mut bg) = (cell.fgcolor(), cell.bgcolor());
            if cell.inverse() {
                std::mem::swap(&mut fg, &mut bg);
            }
            let bold = cell.bold();
            let start = col;
            let mut text = String::new();
            while col < cols {
                let Some(c) = screen.cell(row, col) else {
                    break;
                };
                let (mut f, mut b) = (c.fgcolor(), c.bgcolor());
                if c.inverse() {
                    std::mem::swap(&mut f, &mut b);
                }
                if f != fg || b != bg || c.bold() != bold {
                    break;
                }
                if !c.is_wide_continuation() {
                    text.push_str(if c.has_contents() { c.contents() } else { " " });
                }
                col += 1;
            }
            let x = 8.0 + f64::from(start) * cw;
            let width = f64::from(col - start) * cw;
            if bg != vt100::Color::Default || cell.inverse() {
                let default_bg = if cell.inverse() { fg0 } else { bg0 };
                let _ = write!(
                    svg,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{ch}" fill="{}"/>"#,
                    color(bg, default_bg)
                );
            }
            if !text.trim().is_empty() {
                let default_fg = if cell.inverse() { bg0 } else { fg0 };
                let _ = write!(
                    svg,
                    r#"<text x="{x:.1}" y="{:.1}" fill="{}" xml:space="preserve"{} textLength="{width:.1}" lengthAdjust="spacingAndGlyphs">{}</text>"#,
                    y + ch * 0.78,
                    color(fg, default_fg),
                    if bold { r#" font-weight="bold""# } else { "" },
                    esc(&text)
                );
            }
        }
    }
    svg.push_str("</svg>\n");
    svg
}
