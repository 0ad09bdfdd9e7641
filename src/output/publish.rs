//! How a result file reaches the disk without ever being half-written.
//!
//! npchip never lets libhdf5 write the result file in place. The file lives in memory (HDF5's
//! *core* driver without a backing store); after each finished epoch [`Publisher::publish`]
//! takes the library's image of the whole file (`H5Fget_file_image`, which flushes first, so
//! the image is a complete, closed-consistent file), writes it to a hidden sibling
//! `.<name>.tmp`, `fsync`s it, renames it over `<name>` and `fsync`s the directory. `rename`
//! replaces the directory entry atomically, so at every instant `<name>` is some complete
//! image: a `kill -9` (or a full disk, or a crash inside the library) can only lose the epoch
//! that was being written. Measured figures and the designs compared: `docs/hdf5-schema.md`.
//!
//! A run also holds an exclusive `flock` on `.<name>.lock` for as long as it writes, taken
//! before anything on disk is touched, so a second `train --force` (or `--resume`) onto a file
//! another run is writing is refused instead of destroying both runs.

use super::hdf5::OutputError;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `dir/.<name><suffix>`: the hidden siblings of a result file (same directory, so `rename`
/// stays within one file system and is atomic).
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}{suffix}"))
}

/// An exclusive `flock` on `.<name>.lock`, held while a process writes `<name>`. The lock
/// dies with the process (even on `kill -9`), so a stale lock file never blocks anyone.
pub(crate) struct OutputLock {
    file: File,
    lock_path: PathBuf,
}

impl OutputLock {
    /// Takes the lock or refuses with [`OutputError::Busy`] (naming the holder's pid).
    pub(crate) fn acquire(path: &Path) -> Result<OutputLock, OutputError> {
        let lock_path = sibling(path, ".lock");
        let io = |source| OutputError::Io {
            path: lock_path.clone(),
            source,
        };
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .map_err(io)?;
            // SAFETY: flock on a descriptor this function owns; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                    return Err(io(err));
                }
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(OutputError::Busy {
                    path: path.to_path_buf(),
                    lock: lock_path,
                    holder: pid.trim().to_string(),
                });
            }
            // A holder that just finished unlinks the lock file before unlocking it; if we
            // locked that unlinked inode, the path no longer names it: take the new one.
            let same = match (file.metadata(), std::fs::metadata(&lock_path)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if !same {
                continue;
            }
            // The pid is only for the message of a refused second run: best effort (a full
            // disk must not stop a run from taking its lock).
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = write!(file, "{}", std::process::id());
            return Ok(OutputLock { file, lock_path });
        }
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Unlink while still holding the lock (see `acquire` for why that is safe).
        let _ = std::fs::remove_file(&self.lock_path);
        // SAFETY: unlocks this struct's own descriptor.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// When to write the image: after every flush (`train`: a line on the terminal means the
/// epoch is on disk), or at most as often as keeps the copying below a tenth of the run time
/// (`sweep`: one file holds many runs and grows; copying it per epoch per run would be
/// quadratic).
struct Schedule {
    throttled: bool,
    last_end: Option<Instant>,
    last_cost: Duration,
}

/// Writes the in-memory HDF5 file to its path atomically; owns the file's lock.
pub(crate) struct Publisher {
    pub(crate) path: PathBuf,
    _lock: OutputLock,
    /// Refuse to replace a file that appeared after the existence check (no `--force`).
    no_replace: Mutex<bool>,
    schedule: Mutex<Schedule>,
}

impl Publisher {
    pub(crate) fn new(path: &Path, lock: OutputLock, no_replace: bool) -> Publisher {
        Publisher {
            path: path.to_path_buf(),
            _lock: lock,
            no_replace: Mutex::new(no_replace),
            schedule: Mutex::new(Schedule {
                throttled: false,
                last_end: None,
                last_cost: Duration::ZERO,
            }),
        }
    }

    /// Limits publishing to about a tenth of the wall time (see [`Schedule`]); a final
    /// [`Publisher::publish`] with `always` still writes everything.
    pub(crate) fn throttle(&self) {
        self.schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .throttled = true;
    }

    /// Writes the current state of `file` to disk (unless throttled and `always` is false).
    pub(crate) fn publish(&self, file: &::hdf5::File, always: bool) -> Result<(), OutputError> {
        let mut s = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        if s.throttled && !always {
            if let Some(end) = s.last_end {
                if end.elapsed() < s.last_cost * 10 {
                    return Ok(());
                }
            }
        }
        let t0 = Instant::now();
        let image = file_image(&self.path, file)?;
        let mut no_replace = self.no_replace.lock().unwrap_or_else(|e| e.into_inner());
        write_atomically(&self.path, &image, *no_replace)?;
        *no_replace = false;
        s.last_cost = t0.elapsed();
        s.last_end = Some(Instant::now());
        Ok(())
    }
}

/// The bytes of a complete HDF5 file holding everything written to `file` so far.
fn file_image(path: &Path, file: &::hdf5::File) -> Result<Vec<u8>, OutputError> {
    use hdf5_sys::h5f::H5Fget_file_image;
    let fail = |what: &str| OutputError::Hdf5 {
        path: path.to_path_buf(),
        what: what.to_string(),
        source: ::hdf5::Error::from("H5Fget_file_image failed"),
    };
    // The metadata cache holds changes the image would not contain otherwise: write them
    // into the in-memory file first.
    file.flush()
        .map_err(|e| super::schema::h5err(path, "flushing (in memory)", e))?;
    let _guard = hdf5_sys::LOCK.lock();
    // SAFETY: `file.id()` is an open file; a null buffer asks only for the size.
    let size = unsafe { H5Fget_file_image(file.id(), std::ptr::null_mut(), 0) };
    if size < 0 {
        return Err(fail("taking the file image (size)"));
    }
    let mut buf = vec![0u8; size as usize];
    // SAFETY: `buf` has exactly the `size` bytes the library asked for.
    let got = unsafe { H5Fget_file_image(file.id(), buf.as_mut_ptr().cast(), buf.len()) };
    if got != size {
        return Err(fail("taking the file image"));
    }
    Ok(buf)
}

/// Disk-full errors say so; everything else keeps the OS message.
fn io_error(path: &Path, doing: &str, e: std::io::Error) -> OutputError {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => OutputError::DiskFull {
            path: path.to_path_buf(),
            source: e,
        },
        _ => OutputError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(e.kind(), format!("{doing}: {e}")),
        },
    }
}

/// Writes `bytes` to `.<name>.tmp`, fsyncs, renames it over `path`, fsyncs the directory. On
/// any failure the temporary file is removed and `path` keeps its previous complete content.
pub(crate) fn write_atomically(
    path: &Path,
    bytes: &[u8],
    no_replace: bool,
) -> Result<(), OutputError> {
    let tmp = sibling(path, ".tmp");
    let result = write_and_rename(path, &tmp, bytes, no_replace);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_and_rename(
    path: &Path,
    tmp: &Path,
    bytes: &[u8],
    no_replace: bool,
) -> Result<(), OutputError> {
    let mut f = File::create(tmp).map_err(|e| io_error(path, "creating", e))?;
    f.write_all(bytes)
        .map_err(|e| io_error(path, "writing", e))?;
    f.sync_all().map_err(|e| io_error(path, "syncing", e))?;
    drop(f);
    if no_replace {
        // A hard link fails if `path` exists: never replaces a file that appeared since the
        // existence check (some file systems lack hard links: then check, and rename).
        match std::fs::hard_link(tmp, path) {
            Ok(()) => {
                let _ = std::fs::remove_file(tmp);
                return sync_dir(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists || path.exists() => {
                return Err(OutputError::Exists {
                    path: path.to_path_buf(),
                })
            }
            Err(_) => {}
        }
    }
    std::fs::rename(tmp, path).map_err(|e| io_error(path, "renaming the new version in", e))?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<(), OutputError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(path, "syncing its directory", e))
}
