//! The one place resource values are written, so every failure names the spec field.

use crate::error::{Error, Result};
use crate::sys::CgroupFs;
use std::path::Path;

/// Writes `value` to `dir/file`, naming `field` if the kernel refuses it.
pub(crate) fn put(
    fs: &dyn CgroupFs,
    dir: &Path,
    file: &str,
    value: &str,
    field: &str,
) -> Result<()> {
    let path = dir.join(file);
    fs.write(&path, value).map_err(|source| Error::Write {
        field: field.to_string(),
        path,
        value: value.to_string(),
        source,
    })
}

/// Reads `dir/file` as a trimmed string; errors carry the path.
pub(crate) fn get(fs: &dyn CgroupFs, dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    fs.read(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| crate::error::io(path, e))
}

/// Reads `dir/file` as a number (`max` = u64::MAX); 0 when absent or unparsable, as stats want.
pub(crate) fn num(fs: &dyn CgroupFs, dir: &Path, file: &str) -> u64 {
    get(fs, dir, file)
        .ok()
        .and_then(|s| crate::stats::number(&s))
        .unwrap_or(0)
}
