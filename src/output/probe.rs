//! Reading a result file of unknown health without letting libhdf5 crash npchip.
//!
//! libhdf5 trusts the offsets and sizes it finds in a file: a corrupted B-tree or heap can
//! make it read wild memory (a segmentation fault) or ask for absurd allocations (an abort),
//! which no Rust error handling can catch. So before `report`, `merge` or `train --resume`
//! read a file, [`check`] re-runs the npchip binary as `npchip probe-file FILE` (a hidden
//! command) which reads *everything* in the file — every attribute and every dataset, then
//! the result records as `report` reads them. If that child dies from a signal, takes too long
//! or fails, the parent returns an error naming the file; only a file the child read cleanly
//! is then read in-process (the same library reading the same bytes the same way).
//!
//! The binary turns this on with [`enable`]; library callers (tests, other programs) read
//! in-process as before. The child's error is passed on as it is, so messages are the same
//! as an in-process read would give.

use super::hdf5::OutputError;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The hidden subcommand the child runs.
pub const SUBCOMMAND: &str = "probe-file";

/// Largest dataset or attribute the probe will allocate for (a corrupted header can claim
/// petabytes; npchip's own largest objects, checkpoints of big nets, are far below this).
const MAX_OBJECT_BYTES: u64 = 1 << 34;

static EXE: OnceLock<PathBuf> = OnceLock::new();

/// Reads files through a child process from now on (called by the `npchip` binary).
pub fn enable() {
    if let Ok(exe) = std::env::current_exe() {
        let _ = EXE.set(exe);
    }
}

fn corrupt(path: &Path, why: String) -> OutputError {
    OutputError::Corrupt {
        path: path.to_path_buf(),
        reason: why,
    }
}

/// Checks in a child process that `path` can be read completely; Ok without a child when
/// [`enable`] was not called or `path` is not a regular file (the normal reader refuses it).
pub fn check(path: &Path) -> Result<(), OutputError> {
    let Some(exe) = EXE.get() else {
        return Ok(());
    };
    // Missing files, directories and the like: the in-process reader's own checks say what
    // is wrong (libhdf5 is never reached for them).
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if !meta.is_file() {
        return Ok(());
    }
    let mut child = Command::new(exe)
        .arg(SUBCOMMAND)
        .arg(path)
        .env("NPCHIP_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| OutputError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                source.kind(),
                format!("starting {} to check the file: {source}", exe.display()),
            ),
        })?;
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // A minute, plus a second per 20 MB: far above any healthy read.
    let limit = Duration::from_secs(60 + meta.len() / 20_000_000);
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if t0.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(corrupt(
                    path,
                    format!(
                        "reading it did not finish within {} s (libhdf5 loops on some corrupted files)",
                        limit.as_secs()
                    ),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(source) => {
                return Err(OutputError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    };
    let text = reader.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        return Err(corrupt(
            path,
            format!(
                "libhdf5 crashed while reading it (signal {sig}{}): its internal structures are damaged",
                match sig {
                    libc::SIGSEGV => ", segmentation fault",
                    libc::SIGABRT => ", abort",
                    libc::SIGBUS => ", bus error",
                    _ => "",
                }
            ),
        ));
    }
    // The child's own error (it already names the file): pass it on, once.
    let msg = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| format!("reading it failed: {}", text.trim()));
    let shown = path.display().to_string();
    let message = if msg.contains(&shown) {
        msg
    } else {
        format!("{shown}: {msg}")
    };
    Err(OutputError::Probe {
        path: path.to_path_buf(),
        message,
    })
}

/// The child's work (`npchip probe-file FILE`): reads every attribute and dataset, then the
/// result records as `report` does.
pub fn read_everything(path: &Path) -> Result<(), OutputError> {
    let file = ::hdf5::File::open(path).map_err(|e| super::schema::h5err(path, "opening", e))?;
    walk(path, &file)?;
    drop(file);
    super::reader::read_runs(path).map(|_| ())
}

fn walk(path: &Path, g: &::hdf5::Group) -> Result<(), OutputError> {
    let err = |what: String, e| super::schema::h5err(path, what, e);
    read_attrs(path, g, &g.name())?;
    for name in g
        .member_names()
        .map_err(|e| err(format!("listing {}", g.name()), e))?
    {
        if let Ok(sub) = g.group(&name) {
            walk(path, &sub)?;
        } else {
            let ds = g
                .dataset(&name)
                .map_err(|e| err(format!("opening {}/{name}", g.name()), e))?;
            read_attrs(path, &ds, &ds.name())?;
            read_dataset(path, &ds)?;
        }
    }
    Ok(())
}

fn too_big(path: &Path, object: &str, bytes: u64) -> OutputError {
    corrupt(
        path,
        format!("{object} claims {bytes} bytes, more than any npchip file holds"),
    )
}

fn read_attrs(path: &Path, loc: &::hdf5::Location, object: &str) -> Result<(), OutputError> {
    let names = loc
        .attr_names()
        .map_err(|e| super::schema::h5err(path, format!("listing attributes of {object}"), e))?;
    for n in names {
        let a = loc
            .attr(&n)
            .map_err(|e| super::schema::h5err(path, format!("opening {object}@{n}"), e))?;
        let what = format!("{object}@{n}");
        raw_read(path, &what, a.id(), a.size(), true)?;
    }
    Ok(())
}

fn read_dataset(path: &Path, ds: &::hdf5::Dataset) -> Result<(), OutputError> {
    raw_read(path, &ds.name(), ds.id(), ds.size(), false)
}

/// Reads an attribute or dataset in its own stored type (variable-length data allocated by
/// the library is leaked: this process exits right after).
fn raw_read(
    path: &Path,
    what: &str,
    id: hdf5_sys::h5i::hid_t,
    points: usize,
    attr: bool,
) -> Result<(), OutputError> {
    use hdf5_sys::{h5a, h5d, h5s, h5t};
    let _guard = hdf5_sys::LOCK.lock();
    // SAFETY: `id` is an open attribute/dataset; every id obtained here is closed below, and
    // the buffer has points × type-size bytes, what H5Aread/H5Dread write for a full read.
    unsafe {
        let ty = if attr {
            h5a::H5Aget_type(id)
        } else {
            h5d::H5Dget_type(id)
        };
        if ty < 0 {
            return Err(corrupt(path, format!("{what} has an unreadable type")));
        }
        let size = h5t::H5Tget_size(ty) as u64;
        let bytes = size.saturating_mul(points as u64);
        if size == 0 {
            h5t::H5Tclose(ty);
            return Err(corrupt(path, format!("{what} has a type of size 0")));
        }
        if bytes > MAX_OBJECT_BYTES {
            h5t::H5Tclose(ty);
            return Err(too_big(path, what, bytes));
        }
        let mut buf = vec![0u8; bytes as usize];
        let rc = if attr {
            h5a::H5Aread(id, ty, buf.as_mut_ptr().cast())
        } else {
            h5d::H5Dread(
                id,
                ty,
                h5s::H5S_ALL,
                h5s::H5S_ALL,
                hdf5_sys::h5p::H5P_DEFAULT,
                buf.as_mut_ptr().cast(),
            )
        };
        h5t::H5Tclose(ty);
        if rc < 0 {
            return Err(corrupt(path, format!("{what} cannot be read")));
        }
    }
    Ok(())
}
