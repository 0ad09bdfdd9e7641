//! Where a result file may go: checked before any run starts, by `train`, `sweep` and `merge`
//! alike (it lives here, below the CLI, because merge and sweep need it too).

use std::path::Path;

/// Refuses an `--out` path that can never become a result file: a directory, a special file,
/// or a path under a parent that is a file. `flag` is how the path was given (`--out`, `OUT`).
pub fn check_out_path(path: &Path, flag: &str) -> Result<(), String> {
    let shown = path.display();
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.is_dir() {
            return Err(format!(
                "{flag} {shown}: is a directory; give a file name, e.g. {}",
                path.join("run.h5").display()
            ));
        }
        if !meta.is_file() {
            return Err(format!("{flag} {shown}: is not a regular file (a device, FIFO or socket); give the path of an .h5 file"));
        }
        return Ok(());
    }
    // The path does not exist: its first existing ancestor must be a directory (the writer
    // creates the missing ones).
    let mut parent = path.parent();
    while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
        match std::fs::metadata(p) {
            Ok(meta) if meta.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(format!(
                "{flag} {shown}: {} is a file, not a directory, so nothing can be created under it",
                p.display()
            ))
            }
            Err(_) => parent = p.parent(),
        }
    }
    Ok(())
}
