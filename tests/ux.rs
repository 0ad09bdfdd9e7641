//! What a user sees (issue 17): logs without escapes off a terminal, presets one can copy, and an
//! HTML report that holds every figure and nothing from the network.

use npchip::chip::presets;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_npchip");

/// A training small enough for a test: embedded digits subset, one epoch.
const TINY_TRAIN: &[&str] = &[
    "--chip",
    "rram",
    "--hidden",
    "8",
    "--batch",
    "32",
    "--train-samples",
    "200",
    "--test-samples",
    "60",
    "--epochs",
    "2",
    "--seed",
    "3",
];

fn npchip(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("NO_COLOR").env_remove("NPCHIP_LOG");
    c
}

fn has_escape(bytes: &[u8]) -> bool {
    bytes.contains(&0x1b)
}

#[test]
fn piped_logs_have_no_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.h5");
    let mut argv = vec!["train"];
    argv.extend_from_slice(TINY_TRAIN);
    argv.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = npchip(&argv).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // The tracing line and one plain line per epoch, and no bar: it would be redrawn lines.
    assert!(err.contains("INFO") && err.contains("training"), "{err}");
    let epochs = err
        .lines()
        .filter(|l| l.trim_start().starts_with("epoch"))
        .count();
    assert_eq!(epochs, 2, "{err}");
    assert!(
        !has_escape(&o.stderr),
        "escape bytes in a piped log:\n{err:?}"
    );
    assert!(
        !err.contains('\r'),
        "carriage returns (a bar) in a piped log:\n{err:?}"
    );
}

/// Runs `args` with stderr on a fresh pseudo-terminal (what a user's terminal is) and returns
/// what it wrote there.
fn on_a_terminal(args: &[&str], no_color: Option<&str>) -> Vec<u8> {
    use std::os::fd::{FromRawFd as _, OwnedFd};
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two new descriptors into the out-pointers; the others may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = {
        let mut c = npchip(args);
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        c.stdout(Stdio::null()).stderr(Stdio::from(slave));
        c.spawn().unwrap()
        // `c` (holding the parent's copy of the slave) is dropped here, so the master sees
        // end-of-file (EIO on Linux) once the child exits.
    };
    let mut reader = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    assert!(
        child.wait().unwrap().success(),
        "{}",
        String::from_utf8_lossy(&out)
    );
    out
}

#[test]
fn terminal_logs_are_coloured_unless_no_color() {
    let dir = tempfile::tempdir().unwrap();
    // A sweep logs through tracing only (no progress bar), so any escape is log colour.
    let args = |out: &Path| -> Vec<String> {
        [
            "sweep",
            "--chip",
            "ideal",
            "--rules",
            "bp",
            "--hidden",
            "8",
            "--epochs",
            "1",
            "--train-samples",
            "100",
            "--test-samples",
            "40",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
    };
    let (a, b) = (
        args(&dir.path().join("a.h5")),
        args(&dir.path().join("b.h5")),
    );
    let (a, b): (Vec<&str>, Vec<&str>) = (
        a.iter().map(String::as_str).collect(),
        b.iter().map(String::as_str).collect(),
    );
    let coloured = on_a_terminal(&a, None);
    let text = String::from_utf8_lossy(&coloured);
    assert!(text.contains("INFO"), "{text:?}");
    assert!(has_escape(&coloured), "a terminal gets colour: {text:?}");
    let plain = on_a_terminal(&b, Some("1"));
    let text = String::from_utf8_lossy(&plain);
    assert!(text.contains("INFO"), "{text:?}");
    assert!(!has_escape(&plain), "NO_COLOR=1 still coloured: {text:?}");
}

#[test]
fn chip_export_round_trips_through_chip() {
    let dir = tempfile::tempdir().unwrap();
    for name in presets::preset_names() {
        let o = npchip(&["chip", "export", name]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        // Verbatim: the shipped file, comments, units and sources included.
        assert_eq!(text, presets::preset_text(name).unwrap(), "{name}");
        assert!(
            text.contains("\n#") || text.starts_with('#'),
            "{name}: no comments"
        );
        let file = dir.path().join(format!("my{name}.toml"));
        std::fs::write(&file, &text).unwrap();
        let path = file.to_str().unwrap();
        let (from_file, preset) = (
            presets::resolve(path, &[]).unwrap(),
            presets::resolve(name, &[]).unwrap(),
        );
        assert_eq!(from_file.spec(), preset.spec(), "{name}");
        assert_eq!(from_file.flattened(), preset.flattened(), "{name}");
        assert_ne!(
            from_file.origin, preset.origin,
            "read from the file, not the preset"
        );
        // The binary's own --chip resolution reads the same model from the file.
        let show = |chip: &str| {
            let o = npchip(&["chip", "show", chip]).output().unwrap();
            assert!(o.status.success());
            String::from_utf8(o.stdout).unwrap()
        };
        let (a, b) = (show(path), show(name));
        let params = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| l.starts_with("  "))
                .map(str::to_string)
                .collect()
        };
        assert!(!params(&a).is_empty());
        assert_eq!(params(&a), params(&b), "{name}");
        assert!(
            b.contains(&format!("npchip chip export {name} > mychip.toml")),
            "chip show says how to copy: {b}"
        );
    }
    let o = npchip(&["chip", "export", "nope"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("`nope`") && err.contains("rram"), "{err}");
}

/// Decodes standard base64 (the test's own, independent of the encoder under test).
fn unbase64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &c in s {
        acc = acc << 6 | val(c) as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

const VOID: &[&str] = &["meta", "img", "br", "hr", "link", "input"];

/// A strict tag-balance check: every non-void element closed, in order.
fn check_balanced(html: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').ok_or("unclosed <")?;
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        let self_closing = tag.ends_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            return Err(format!("bad tag <{tag}>"));
        }
        if tag.starts_with('/') {
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else if !self_closing && !VOID.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("never closed: {stack:?}"))
    }
}

/// The same check with python3's html.parser, an HTML tokenizer that is not ours.
const PY_CHECK: &str = r#"
import sys
from html.parser import HTMLParser
VOID = {"meta", "img", "br", "hr", "link", "input"}
class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.imgs = [], 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img" and a.get("src", "").startswith("data:image/png;base64,"):
            self.imgs += 1
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        # `<img ... />`: an element that opens and closes at once.
        if tag not in VOID:
            sys.exit("<%s/> is not a void element" % tag)
        self.handle_starttag(tag, attrs)
    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            sys.exit("mismatched </%s>" % tag)
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
p.close()
if p.stack:
    sys.exit("never closed: %r" % p.stack)
print(p.imgs)
"#;

fn pngs_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    v.sort();
    v
}

#[test]
fn html_report_holds_every_figure_and_nothing_from_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("grid.h5");
    // 2 levels × 2 noise values × 2 seeds: every figure kind, seeds as bands.
    let o = npchip(&[
        "sweep",
        "--chip",
        "rram",
        "--levels",
        "4,16",
        "--read-noise",
        "0,0.1",
        "--rules",
        "danp-nn",
        "--seeds",
        "1,2",
        "--hidden",
        "8",
        "--epochs",
        "2",
        "--batch",
        "32",
        "--train-samples",
        "200",
        "--test-samples",
        "60",
        "--trace",
        "none",
        "--out",
        h5.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (plots, page) = (dir.path().join("plots"), dir.path().join("report.html"));
    let o = npchip(&[
        "report",
        h5.to_str().unwrap(),
        "--out",
        plots.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    let figures = pngs_in(&plots);
    let names: Vec<String> = figures
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "accuracy_energy.png",
            "accuracy_time.png",
            "accuracy_vs_bits.png",
            "accuracy_vs_read_noise.png",
            "energy.png",
            "heatmap_danp-nn_stochastic.png",
            "learning_curves.png",
            "time.png"
        ]
    );
    // Every figure embedded, byte for byte, and nothing else as an image.
    let prefix = "<img src=\"data:image/png;base64,";
    let mut embedded: Vec<Vec<u8>> = html
        .split(prefix)
        .skip(1)
        .map(|s| unbase64(&s[..s.find('"').unwrap()]))
        .collect();
    let mut on_disk: Vec<Vec<u8>> = figures.iter().map(|p| std::fs::read(p).unwrap()).collect();
    embedded.sort();
    on_disk.sort();
    assert_eq!(embedded.len(), figures.len());
    assert!(
        embedded == on_disk,
        "embedded figures differ from the PNG files"
    );
    // Self-contained: every src is a data URI; no links, scripts, style imports or fetches.
    assert_eq!(html.matches("src=").count(), figures.len());
    for banned in ["href=", "<link", "<script", "@import", "url(", "<iframe"] {
        assert!(!html.contains(banned), "page contains {banned}");
    }
    // Well-formed, by our check and by python's tokenizer (which also counts the images).
    check_balanced(&html).unwrap();
    assert!(
        check_balanced("<p><b>x</p></b>").is_err(),
        "the check can fail"
    );
    let py = Command::new("python3")
        .arg("-c")
        .arg(PY_CHECK)
        .arg(&page)
        .output()
        .expect("python3 (CI installs it with python3-h5py)");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        figures.len().to_string()
    );
    // The table and each run's settings and chip model.
    assert_eq!(html.matches("<details").count(), 8);
    assert_eq!(html.matches("<pre>").count(), 8, "one chip model per run");
    assert!(
        html.contains("g_max_us"),
        "the chip model's parameters are shown"
    );
    assert!(
        html.contains("<td>run0007</td>"),
        "the run table lists every run"
    );
    assert!(html.contains("mnist") || html.contains("digits"));

    // --html alone: the same figures, from a scratch directory that is removed afterwards.
    let page2 = dir.path().join("alone.html");
    let child = npchip(&[
        "report",
        h5.to_str().unwrap(),
        "--html",
        page2.to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let alone = std::fs::read_to_string(&page2).unwrap();
    assert_eq!(alone.matches(prefix).count(), figures.len());
    let leftover = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("npchip-report-{pid}-"))
        });
    assert!(!leftover, "the scratch figure directory was left behind");
}
