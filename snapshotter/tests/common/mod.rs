//! Test helpers: a layer tar builder that can also write hostile entries the `tar` crate's own
//! path checks would refuse, and compression helpers.
#![allow(dead_code)]

pub mod server;

use std::io::Write;
use tar::{EntryType, Header};

/// Builds a layer tar entry by entry.
pub struct Layer {
    b: tar::Builder<Vec<u8>>,
}

impl Default for Layer {
    fn default() -> Self {
        Self::new()
    }
}

impl Layer {
    /// An empty layer.
    pub fn new() -> Layer {
        Layer {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: EntryType, name: &str, mode: u32, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        // Raw bytes: no validation, so `..` and absolute names reach the applier.
        let n = name.as_bytes();
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    fn push(&mut self, mut h: Header, data: &[u8]) -> &mut Self {
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.file_owned(name, data, 0o644, 0, 0)
    }

    /// A regular file with mode and owner.
    pub fn file_owned(
        &mut self,
        name: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> &mut Self {
        let mut h = Self::header(EntryType::Regular, name, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        self.push(h, data)
    }

    /// A directory.
    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        let h = Self::header(EntryType::Directory, name, mode, 0);
        self.push(h, &[])
    }

    /// A symlink.
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Self::header(EntryType::Symlink, name, 0o777, 0);
        h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        self.push(h, &[])
    }

    /// A hard link to `target` (a path inside the layer).
    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Self::header(EntryType::Link, name, 0o644, 0);
        h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        self.push(h, &[])
    }

    /// A character or block device.
    pub fn device(&mut self, name: &str, kind: EntryType, major: u32, minor: u32) -> &mut Self {
        let mut h = Self::header(kind, name, 0o666, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.push(h, &[])
    }

    /// A fifo.
    pub fn fifo(&mut self, name: &str) -> &mut Self {
        let h = Self::header(EntryType::Fifo, name, 0o600, 0);
        self.push(h, &[])
    }

    /// PAX records for the next entry (e.g. `SCHILY.xattr.user.x`).
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.b
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }

    /// A GNU sparse file of `real_size` bytes whose only data is `data` at `offset`.
    pub fn sparse(&mut self, name: &str, real_size: u64, offset: u64, data: &[u8]) -> &mut Self {
        assert_eq!(
            data.len() % 512,
            0,
            "sparse data blocks are 512-byte multiples here"
        );
        let mut h = Self::header(EntryType::GNUSparse, name, 0o644, data.len() as u64);
        let g = h.as_gnu_mut().unwrap();
        g.sparse[0].set_offset(offset);
        g.sparse[0].set_length(data.len() as u64);
        // An empty trailing block marks the end of the data; GNU tar writes one too.
        g.sparse[1].set_offset(real_size);
        g.sparse[1].set_length(0);
        g.set_real_size(real_size);
        self.push(h, data)
    }

    /// The finished tar.
    pub fn tar(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// zstd of `data`.
pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}
