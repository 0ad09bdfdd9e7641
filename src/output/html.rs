//! `npchip report … --html PAGE`: one self-contained HTML page of a report — the run table, the
//! figures and each run's chip model and settings — that a hardware designer can forward to a
//! colleague as a single file.
//!
//! Self-contained means it opens offline and reads the same anywhere: the figures are embedded
//! as base64 PNG data URIs, the style sheet is inline, and nothing refers to a network address.
//! Every element is closed explicitly, so the page is also well-formed for XML-minded tools.

use super::hdf5::RunRecord;
use super::report::{table_cells, table_notes, Row};
use super::report_error::ReportError;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What the page shows.
pub struct Page<'a> {
    /// One line per input file (path, run count, version, creation time).
    pub headers: &'a [String],
    /// The table rows, one per run.
    pub rows: &'a [Row],
    /// The runs themselves (their attributes are the settings shown).
    pub runs: &'a [RunRecord],
    /// The PNG figures with a one-line description each.
    pub figures: &'a [(PathBuf, String)],
}

/// Standard base64 (RFC 4648 §4, with `=` padding), as data URIs require.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Text escaped for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:2em auto;max-width:1240px;color:#222;padding:0 1em}\
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;font-size:.85em}th,td{border:1px solid #ccc;padding:.25em .5em;white-space:nowrap}\
th{background:#f2f2f2;position:sticky;top:0}.scroll{max-height:34em;overflow:auto;border:1px solid #ddd}\
.kv td{white-space:normal}td.num{text-align:right;font-variant-numeric:tabular-nums}\
figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:.9em}\
pre{background:#f8f8f8;padding:.6em;overflow-x:auto;font-size:.8em}\
details{margin:.6em 0}summary{cursor:pointer;font-weight:bold}.notes{color:#555;font-size:.85em}\
.kv td:first-child{font-family:monospace}";

/// Writes the page to `path`.
pub fn write_page(path: &Path, page: &Page) -> Result<(), ReportError> {
    let html = render(page)?;
    std::fs::write(path, html).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        what: "cannot write the HTML report",
        source,
    })
}

/// The page as text; reads each figure file to embed it.
pub fn render(page: &Page) -> Result<String, ReportError> {
    let mut h = String::new();
    let n = page.rows.len();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <title>npchip report: {n} run{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        if n == 1 { "" } else { "s" }
    );
    let _ = writeln!(h, "<h1>npchip report</h1>");
    for line in page.headers {
        let _ = writeln!(h, "<p>{}</p>", escape(line));
    }
    table(&mut h, page.rows);
    let _ = writeln!(h, "<h2>Figures</h2>");
    for (file, what) in page.figures {
        let png = std::fs::read(file).map_err(|source| ReportError::Io {
            path: file.clone(),
            what: "cannot read the figure to embed it",
            source,
        })?;
        let name = file
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        let _ = writeln!(
            h,
            "<figure>\n<img src=\"data:image/png;base64,{}\" alt=\"{}\" />\n\
             <figcaption><code>{}</code>: {}</figcaption>\n</figure>",
            base64(&png),
            escape(what),
            escape(&name),
            escape(what)
        );
    }
    runs(&mut h, page.rows, page.runs);
    let _ = writeln!(
        h,
        "<p class=\"notes\">Written by npchip {}.</p>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION")
    );
    Ok(h)
}

fn table(h: &mut String, rows: &[Row]) {
    let _ = writeln!(h, "<h2>Runs</h2>");
    if rows.is_empty() {
        let _ = writeln!(h, "<p>(no runs)</p>");
        return;
    }
    let cells = table_cells(rows);
    // A long sweep table scrolls in its own box (header kept in view), so the figures below
    // are not pages away.
    let _ = writeln!(h, "<div class=\"scroll\">\n<table>\n<thead>\n<tr>");
    for c in &cells[0] {
        let _ = write!(h, "<th>{}</th>", escape(c));
    }
    let _ = writeln!(h, "</tr>\n</thead>\n<tbody>");
    let ncol = cells[0].len();
    for row in &cells[1..] {
        let _ = write!(h, "<tr>");
        for (j, c) in row.iter().enumerate() {
            // The same alignment as the text table: names left, numbers right.
            if j < 3 || j == ncol - 1 {
                let _ = write!(h, "<td>{}</td>", escape(c));
            } else {
                let _ = write!(h, "<td class=\"num\">{}</td>", escape(c));
            }
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</tbody>\n</table>\n</div>");
    for note in table_notes(rows) {
        let _ = writeln!(h, "<p class=\"notes\">{}</p>", escape(&note));
    }
}

/// Each run's settings (every attribute but the chip's) and its chip model as TOML.
fn runs(h: &mut String, rows: &[Row], runs: &[RunRecord]) {
    let _ = writeln!(h, "<h2>Each run: settings and chip model</h2>");
    for (i, (row, run)) in rows.iter().zip(runs).enumerate() {
        let _ = writeln!(
            h,
            "<details{}>\n<summary>{}: {} on {}, {}, {}</summary>",
            if i == 0 { " open=\"open\"" } else { "" },
            escape(&row.name),
            escape(&row.rule),
            escape(&row.chip),
            escape(&row.data),
            escape(row.status.name())
        );
        let _ = writeln!(h, "<table class=\"kv\">\n<tbody>");
        for (k, v) in run
            .attrs
            .iter()
            .filter(|(k, _)| !k.starts_with("chip.") && k.as_str() != "chip_toml")
        {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(k),
                escape(&v.to_string())
            );
        }
        let _ = writeln!(h, "</tbody>\n</table>");
        if let Some(toml) = run.attrs.get("chip_toml").and_then(|v| v.as_str()) {
            let _ = writeln!(
                h,
                "<p>Chip model (as the run used it, overrides applied; save as a file and pass \
                 it to <code>--chip</code> to run on the same chip):</p>\n<pre>{}</pre>",
                escape(toml)
            );
        }
        let _ = writeln!(h, "</details>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc, "{raw:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"
        );
    }
}
