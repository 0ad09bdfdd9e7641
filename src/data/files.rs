//! Finding dataset files in a directory and reading them, decompressed, into memory.
//!
//! Datasets come as raw files or as `.gz` / `.xz` copies (the shared CIFAR-10 is xz, MNIST is
//! gzip), under a few spellings of the same name. This module hides all of that: the parsers
//! only ever see the decompressed bytes plus the path to quote in errors. When a required file
//! is missing, [`super::detect`] is asked whether the directory holds another dataset.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::detect::{detect, Kind};
use super::DataError;

/// Suffixes tried after every base name, in this order (the raw file wins if several exist).
pub(crate) const SUFFIXES: [&str; 3] = ["", ".gz", ".xz"];

/// The most bytes one dataset file may decompress to: 256 MiB. The largest file of any supported
/// format is CIFAR-100's `train.bin` (50 000 × 3074 bytes ≈ 154 MB); a stream that inflates
/// beyond this is a decompression bomb or not a dataset file, and is refused before it can
/// exhaust memory.
pub const MAX_DECOMPRESSED: u64 = 256 << 20;

/// Fails unless `dir` is an existing directory; `expected` says what it should hold.
pub(crate) fn check_dir(dir: &Path, expected: &str) -> Result<(), DataError> {
    if dir.is_dir() {
        Ok(())
    } else if let Some(found) = entry_kind(dir) {
        Err(DataError::NotADirectory {
            path: dir.to_path_buf(),
            found,
            expected: expected.to_string(),
        })
    } else {
        Err(DataError::DirNotFound {
            dir: dir.to_path_buf(),
            expected: expected.to_string(),
        })
    }
}

/// What a path that exists but is not a readable regular file is, in words; `None` for a
/// regular file (or a link to one) and for a path that does not exist at all.
fn not_a_file_kind(path: &Path) -> Option<&'static str> {
    entry_kind(path).filter(|&k| k != REGULAR)
}

const REGULAR: &str = "a regular file";

/// What is at `path`, in words (links followed); `None` when nothing is there at all.
fn entry_kind(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let link = std::fs::symlink_metadata(path).ok()?;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) if link.file_type().is_symlink() => return Some("a dangling symbolic link"),
        Err(_) => return Some("not accessible"),
    };
    let t = meta.file_type();
    Some(if t.is_file() {
        REGULAR
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device file"
    } else {
        "not a regular file"
    })
}

/// The first existing file among `bases` × [`SUFFIXES`] in `dir`.
///
/// When none exists, the error lists every name tried, unless the directory evidently holds
/// another dataset than `wanted` (which is how that dataset is named in the message), in which
/// case [`DataError::WrongDataset`] says which and what spec to use instead.
pub(crate) fn find(
    dir: &Path,
    bases: &[&str],
    what: &str,
    wanted: (Kind, &str),
) -> Result<PathBuf, DataError> {
    let mut looked_for = Vec::new();
    for base in bases {
        for suffix in SUFFIXES {
            let name = format!("{base}{suffix}");
            let path = dir.join(&name);
            if path.is_file() {
                return Ok(path);
            }
            // An entry of the right name that is not a file (a directory, a FIFO, a dangling
            // link) is said to be so: "missing" would send the user looking for the wrong thing,
            // and reading a FIFO would hang.
            if let Some(found) = not_a_file_kind(&path) {
                return Err(DataError::NotAFile {
                    path,
                    found,
                    what: what.to_string(),
                });
            }
            looked_for.push(name);
        }
    }
    if let Some(found) = detect(dir, wanted.0) {
        if found.kind != wanted.0 || found.nested {
            let same = found.kind == wanted.0;
            return Err(DataError::WrongDataset {
                dir: dir.to_path_buf(),
                wanted: format!("{}{}", wanted.1, if same { " itself" } else { "" }),
                looks_like: found.what,
                hint: found.spec,
            });
        }
    }
    Err(DataError::MissingFile {
        dir: dir.to_path_buf(),
        what: what.to_string(),
        looked_for,
    })
}

/// The first existing file among `bases` × [`SUFFIXES`], or `None` (for optional files).
pub(crate) fn find_optional(dir: &Path, bases: &[&str]) -> Option<PathBuf> {
    bases
        .iter()
        .flat_map(|b| SUFFIXES.iter().map(move |s| dir.join(format!("{b}{s}"))))
        .find(|p| p.is_file())
}

/// Reads `path` whole and decompresses it according to its extension (`.gz`, `.xz`, else raw).
///
/// Decoding failures (bad header, bad checksum, stream cut short) become
/// [`DataError::Corrupt`]; the output buffer is pre-sized from the gzip trailer when that is
/// plausible, so a 47 MB MNIST file is not grown by repeated doubling.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, DataError> {
    if let Some(found) = not_a_file_kind(path) {
        return Err(DataError::NotAFile {
            path: path.to_path_buf(),
            found,
            what: "a dataset file".into(),
        });
    }
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    decompress(path, &name, raw)
}

/// Decompresses `raw` (the content of a file called `name`, quoted as `path` in errors).
pub(crate) fn decompress(path: &Path, name: &str, raw: Vec<u8>) -> Result<Vec<u8>, DataError> {
    decompress_capped(path, name, raw, MAX_DECOMPRESSED)
}

/// [`decompress`] with the output limited to `limit` bytes ([`DataError::TooLarge`] beyond).
pub(crate) fn decompress_capped(
    path: &Path,
    name: &str,
    raw: Vec<u8>,
    limit: u64,
) -> Result<Vec<u8>, DataError> {
    let too_large = |format| DataError::TooLarge {
        path: path.to_path_buf(),
        format,
        limit,
    };
    if name.ends_with(".gz") {
        let hint = gzip_size_hint(&raw).min(limit as usize);
        let mut out = Vec::with_capacity(hint);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| corrupt(path, "gzip", e.to_string()))?;
        if out.len() as u64 > limit {
            return Err(too_large("gzip"));
        }
        Ok(out)
    } else if name.ends_with(".xz") {
        let mut out = Capped {
            buf: Vec::with_capacity(raw.len().saturating_mul(2).min(limit as usize)),
            limit,
            exceeded: false,
        };
        let r = lzma_rs::xz_decompress(&mut &raw[..], &mut out);
        if out.exceeded {
            return Err(too_large("xz"));
        }
        r.map_err(|e| corrupt(path, "xz", e.to_string()))?;
        Ok(out.buf)
    } else {
        Ok(raw)
    }
}

/// A byte sink that fails once more than `limit` bytes were written (and remembers why).
struct Capped {
    buf: Vec<u8>,
    limit: u64,
    exceeded: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() as u64 + data.len() as u64 > self.limit {
            self.exceeded = true;
            return Err(std::io::Error::other("decompressed size limit exceeded"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn corrupt(path: &Path, format: &'static str, reason: String) -> DataError {
    DataError::Corrupt {
        path: path.to_path_buf(),
        format,
        reason: if reason.is_empty() {
            "decoder failed".into()
        } else {
            reason
        },
    }
}

/// The ISIZE field (uncompressed size mod 2^32) of a single-member gzip file, if it is plausible
/// (at most 1000× the compressed size, deflate's practical ceiling); else a modest guess.
fn gzip_size_hint(raw: &[u8]) -> usize {
    let guess = raw.len().saturating_mul(4);
    if raw.len() < 18 {
        return 0;
    }
    let t = &raw[raw.len() - 4..];
    let isize = u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize;
    if isize <= raw.len().saturating_mul(1000) {
        isize
    } else {
        guess
    }
}

/// Reads a class-name file: one name per non-empty line; must have exactly `n` names.
pub(crate) fn read_class_names(path: &Path, n: usize) -> Result<Vec<String>, DataError> {
    let bytes = read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != n {
        return Err(DataError::ClassNames {
            path: path.to_path_buf(),
            expected: n,
            found: names.len(),
        });
    }
    Ok(names)
}

/// "0", "1", ... for datasets that carry no class-name file.
pub(crate) fn numbered_classes(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

/// [`read`] for several files at once, decoding up to one file per core in parallel (lzma-rs
/// is single-threaded and xz decoding is most of CIFAR-10's load time). Results keep the order
/// of `paths`; on failure the error of the first failing file in that order is returned.
pub(crate) fn read_all(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, DataError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len());
    if workers <= 1 {
        return paths.iter().map(|p| read(p)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    type Slot = std::sync::Mutex<Option<Result<Vec<u8>, DataError>>>;
    let slots: Vec<Slot> = paths.iter().map(|_| Slot::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(p) = paths.get(i) else { break };
                let r = read(p);
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .zip(paths)
        .map(|(m, p)| {
            let r = m.into_inner().unwrap_or_else(|e| e.into_inner());
            r.unwrap_or_else(|| {
                Err(DataError::io(
                    p,
                    std::io::Error::other("reader thread failed"),
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn streams_beyond_the_limit_are_refused_and_smaller_ones_kept_whole() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &data[..], &mut xz).unwrap();
        let p = Path::new("/d/f");
        for (name, raw) in [("f.gz", &gz), ("f.xz", &xz)] {
            assert_eq!(
                decompress_capped(p, name, raw.clone(), 10_000).unwrap(),
                data
            );
            match decompress_capped(p, name, raw.clone(), 9_999) {
                Err(DataError::TooLarge { limit, .. }) => assert_eq!(limit, 9_999),
                other => panic!("{name}: expected TooLarge, got {other:?}"),
            }
        }
    }

    #[test]
    fn entries_are_named_by_what_they_are() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        std::os::unix::fs::symlink(d.path().join("gone"), d.path().join("link")).unwrap();
        assert_eq!(not_a_file_kind(&file), None);
        assert_eq!(not_a_file_kind(d.path()), Some("a directory"));
        assert_eq!(
            not_a_file_kind(&d.path().join("link")),
            Some("a dangling symbolic link")
        );
        assert_eq!(not_a_file_kind(&d.path().join("nothing")), None);
        assert_eq!(entry_kind(&file), Some(REGULAR));
    }
}
