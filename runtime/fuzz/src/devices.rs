//! `linux.devices[]` entries against config-linux "Devices" and the kernel's dev_t.

use arbitrary::Arbitrary;
use dm_runtime::rootfs::devices;
use nix::sys::stat::SFlag;
use oci_spec::runtime::{LinuxDevice, Spec};
use serde_json::{json, Value};

/// A piece of a device path.
#[derive(Arbitrary, Debug)]
pub enum Part {
    /// `/`
    Slash,
    /// `dev`
    Dev,
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// Any text (may hold `/`, NUL).
    Name(String),
}

/// A number the fuzzer picks near a boundary more often than at random.
#[derive(Arbitrary, Debug)]
pub enum Num {
    /// One of the boundaries that matter for major/minor numbers.
    Edge(u8),
    /// Anything.
    Any(i64),
}

const EDGES: &[i64] = &[
    0,
    1,
    -1,
    255,
    256,
    4095,
    4096,
    (1 << 20) - 1,
    1 << 20,
    u32::MAX as i64,
    1 << 32,
    i64::MAX,
    i64::MIN,
];

impl Num {
    /// The number.
    pub fn get(&self) -> i64 {
        match self {
            Num::Edge(i) => EDGES[*i as usize % EDGES.len()],
            Num::Any(v) => *v,
        }
    }
}

/// One `linux.devices[]` entry.
#[derive(Arbitrary, Debug)]
pub struct Case {
    path: Vec<Part>,
    /// Index into "abcup" or any other string.
    typ: Result<u8, String>,
    major: Num,
    minor: Num,
    file_mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    index: u8,
}

/// The path the entry names if it is strictly below /dev without `..` or NUL, normalised.
fn documented_path(p: &str) -> Option<String> {
    if !p.starts_with('/') || p.contains('\0') {
        return None;
    }
    let parts: Vec<&str> = p
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    if parts.first() != Some(&"dev") || parts.len() < 2 || parts.contains(&"..") {
        return None;
    }
    Some(format!("/{}", parts.join("/")))
}

/// The kernel's new_decode_dev for the 32-bit value mknod(2) passes.
fn kernel_decode(dev: u32) -> (u32, u32) {
    ((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00))
}

impl Case {
    /// Runs every check.
    pub fn check(&self) {
        let path: String = self
            .path
            .iter()
            .map(|p| match p {
                Part::Slash => "/",
                Part::Dev => "dev",
                Part::Dot => ".",
                Part::DotDot => "..",
                Part::Name(s) => s,
            })
            .collect();
        let typ = match &self.typ {
            Ok(i) => ["a", "b", "c", "u", "p"][*i as usize % 5].to_string(),
            Err(s) => s.clone(),
        };
        let (major, minor) = (self.major.get(), self.minor.get());
        let mut entry = json!({"path": path, "type": typ, "major": major, "minor": minor});
        for (k, v) in [
            ("fileMode", self.file_mode),
            ("uid", self.uid),
            ("gid", self.gid),
        ] {
            if let Some(v) = v {
                entry[k] = json!(v);
            }
        }
        let Ok(d) = serde_json::from_value::<LinuxDevice>(entry.clone()) else {
            return;
        };
        let typ = serde_json::to_value(d.typ())
            .unwrap()
            .as_str()
            .unwrap_or("")
            .to_string();
        let i = self.index as usize;
        let fifo = typ == "p";
        // Which field the spec and kernel say is wrong, in the order the fields are checked.
        let wrong = if typ == "a" {
            Some("type")
        } else if documented_path(&path).is_none() {
            Some("path")
        } else if !fifo && !(0..=4095).contains(&major) {
            Some("major")
        } else if !fifo && !(0..=(1 << 20) - 1).contains(&minor) {
            Some("minor")
        } else {
            None
        };
        let got = devices::from_spec(i, &d);
        match (&got, wrong) {
            (Ok(dev), None) => {
                assert_eq!(dev.path().to_str(), documented_path(&path).as_deref());
                let kind = match typ.as_str() {
                    "b" => SFlag::S_IFBLK,
                    "p" => SFlag::S_IFIFO,
                    _ => SFlag::S_IFCHR,
                };
                assert_eq!(dev.kind(), kind, "type {typ}");
                let rdev = dev.rdev();
                if fifo {
                    assert_eq!(rdev, 0);
                } else {
                    let k = u32::try_from(rdev).expect("dev_t beyond the kernel's 32 bits");
                    assert_eq!(kernel_decode(k), (major as u32, minor as u32));
                }
                let mode = self.file_mode.unwrap_or(0o666) & 0o7777;
                assert_eq!(dev.mode(), mode);
                assert_eq!(dev.owner(), (self.uid.unwrap_or(0), self.gid.unwrap_or(0)));
            }
            (Err(e), Some(field)) => {
                let e = e.to_string();
                let prefix = format!("linux.devices[{i}].{field}: ");
                assert!(e.starts_with(&prefix), "{entry}: want {prefix}, got {e}");
            }
            (Ok(dev), Some(field)) => {
                panic!(
                    "{entry}: {field} is wrong but {} was accepted",
                    dev.path().display()
                )
            }
            (Err(e), None) => panic!("{entry}: refused: {e}"),
        }
        self.check_validate(entry, i % 3, got.is_ok());
    }

    /// config validation agrees with `from_spec` (the init repeats it after the clone).
    fn check_validate(&self, entry: Value, i: usize, ok: bool) {
        let null = json!({"path": "/dev/null0", "type": "c", "major": 1, "minor": 3});
        let mut devs = vec![null; i];
        devs.push(entry);
        let spec = json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "mount"}], "devices": devs},
        });
        let spec: Spec = serde_json::from_value(spec).expect("the entry parsed alone");
        match dm_runtime::config::validate(&spec) {
            Ok(()) => assert!(ok, "validate accepted what from_spec refuses"),
            Err(e) => {
                let e = e.to_string();
                assert!(!ok, "validate refused: {e}");
                assert!(e.starts_with(&format!("linux.devices[{i}].")), "{e}");
            }
        }
    }
}
