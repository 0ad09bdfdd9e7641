//! The one line `npchip` prints for a failed command.

/// The error and its causes, joined by `: `, each said once: many error types already quote
/// their source in their own message (`{path}: {source}`) and also return it as `source()`, so
/// anyhow's `{:#}` would print `File exists (os error 17): File exists (os error 17)`. A cause
/// whose text is already in the line is skipped.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("out.h5: {source}")]
    struct Quoting {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_quoted_by_its_wrapper_is_printed_once() {
        let io = std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "File exists (os error 17)",
        );
        let e = anyhow::Error::new(Quoting { source: io }).context("run0");
        assert_eq!(error_text(&e), "run0: out.h5: File exists (os error 17)");
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&plain), "outer: inner");
    }
}
