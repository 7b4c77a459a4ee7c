//! `mounts[].options`, `linux.rootfsPropagation` and idmapped mounts against the option table
//! of mount(8) and the runtime spec's config-linux "Mount Propagation" / idmap wording.

use arbitrary::Arbitrary;
use dm_runtime::rootfs::{idmap, options};
use nix::mount::MsFlags;
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

/// What one option does, as documented (mount(8) FILESYSTEM-INDEPENDENT MOUNT OPTIONS, runc's
/// additions), independently of `options.rs`.
#[derive(Clone, Copy)]
enum Effect {
    Set(u64),
    Clear(u64),
    Propagation(u64),
    Bind { recursive: bool },
    Idmap { recursive: bool },
    Ignored,
    Recursive,
}

const RDONLY: u64 = 1;
const NOSUID: u64 = 2;
const NODEV: u64 = 4;
const NOEXEC: u64 = 8;
const SYNCHRONOUS: u64 = 16;
const REMOUNT: u64 = 32;
const MANDLOCK: u64 = 64;
const DIRSYNC: u64 = 128;
const NOSYMFOLLOW: u64 = 256;
const NOATIME: u64 = 1024;
const NODIRATIME: u64 = 2048;
const BIND: u64 = 4096;
const REC: u64 = 16384;
const SILENT: u64 = 32768;
const UNBINDABLE: u64 = 1 << 17;
const PRIVATE: u64 = 1 << 18;
const SLAVE: u64 = 1 << 19;
const SHARED: u64 = 1 << 20;
const RELATIME: u64 = 1 << 21;
const STRICTATIME: u64 = 1 << 24;
const LAZYTIME: u64 = 1 << 25;

/// The documented options.
const TABLE: &[(&str, Effect)] = {
    use Effect::*;
    &[
        ("ro", Set(RDONLY)),
        ("rw", Clear(RDONLY)),
        ("nosuid", Set(NOSUID)),
        ("suid", Clear(NOSUID)),
        ("nodev", Set(NODEV)),
        ("dev", Clear(NODEV)),
        ("noexec", Set(NOEXEC)),
        ("exec", Clear(NOEXEC)),
        ("sync", Set(SYNCHRONOUS)),
        ("async", Clear(SYNCHRONOUS)),
        ("dirsync", Set(DIRSYNC)),
        ("remount", Set(REMOUNT)),
        ("mand", Set(MANDLOCK)),
        ("nomand", Clear(MANDLOCK)),
        ("atime", Clear(NOATIME)),
        ("noatime", Set(NOATIME)),
        ("diratime", Clear(NODIRATIME)),
        ("nodiratime", Set(NODIRATIME)),
        ("relatime", Set(RELATIME)),
        ("norelatime", Clear(RELATIME)),
        ("strictatime", Set(STRICTATIME)),
        ("nostrictatime", Clear(STRICTATIME)),
        ("lazytime", Set(LAZYTIME)),
        ("nolazytime", Clear(LAZYTIME)),
        ("nosymfollow", Set(NOSYMFOLLOW)),
        ("symfollow", Clear(NOSYMFOLLOW)),
        ("silent", Set(SILENT)),
        ("loud", Clear(SILENT)),
        ("bind", Bind { recursive: false }),
        ("rbind", Bind { recursive: true }),
        ("private", Propagation(PRIVATE)),
        ("rprivate", Propagation(PRIVATE | REC)),
        ("shared", Propagation(SHARED)),
        ("rshared", Propagation(SHARED | REC)),
        ("slave", Propagation(SLAVE)),
        ("rslave", Propagation(SLAVE | REC)),
        ("unbindable", Propagation(UNBINDABLE)),
        ("runbindable", Propagation(UNBINDABLE | REC)),
        ("idmap", Idmap { recursive: false }),
        ("ridmap", Idmap { recursive: true }),
        ("tmpcopyup", Ignored),
        ("rro", Recursive),
        ("rrw", Recursive),
        ("rnosuid", Recursive),
        ("rsuid", Recursive),
        ("rnodev", Recursive),
        ("rdev", Recursive),
        ("rnoexec", Recursive),
        ("rexec", Recursive),
        ("rnodiratime", Recursive),
        ("rdiratime", Recursive),
        ("rrelatime", Recursive),
        ("rnorelatime", Recursive),
        ("rnoatime", Recursive),
        ("ratime", Recursive),
        ("rstrictatime", Recursive),
        ("rnostrictatime", Recursive),
        ("rnosymfollow", Recursive),
        ("rsymfollow", Recursive),
    ]
};

/// One option: a documented one (by index), or any string.
#[derive(Arbitrary, Debug)]
pub enum Opt {
    /// `TABLE[n % len]`.
    Known(u8),
    /// Anything (filesystem data, typos, commas, NULs).
    Raw(String),
}

impl Opt {
    fn text(&self) -> String {
        match self {
            Opt::Known(n) => TABLE[*n as usize % TABLE.len()].0.to_string(),
            Opt::Raw(s) => s.clone(),
        }
    }
}

/// An id mapping triple.
#[derive(Arbitrary, Debug)]
pub struct Map(u32, u32, u32);

/// A mount entry and its surroundings.
#[derive(Arbitrary, Debug)]
pub struct Case {
    options: Vec<Opt>,
    /// `type`: none, "bind", "tmpfs", or another string.
    typ: Option<Opt>,
    uid_mappings: Option<Vec<Map>>,
    gid_mappings: Option<Vec<Map>>,
    /// linux.uidMappings/gidMappings (for idmap without per-mount mappings).
    linux_maps: Option<(Vec<Map>, Vec<Map>)>,
    /// Its index in mounts[] (a valid mount precedes it that many times).
    index: u8,
    rootfs_propagation: Option<Opt>,
}

/// What the table says `opts` mean.
#[derive(Debug, Default, PartialEq)]
struct Model {
    flags: u64,
    clear: u64,
    propagation: Vec<u64>,
    data: Vec<String>,
    bind: bool,
    idmap: Option<bool>,
    recursive: Vec<usize>,
}

fn model(opts: &[String]) -> Model {
    let mut m = Model::default();
    for (j, o) in opts.iter().enumerate() {
        let Some((_, e)) = TABLE.iter().find(|(n, _)| n == o) else {
            m.data.push(o.clone());
            continue;
        };
        match *e {
            Effect::Set(f) => {
                m.flags |= f;
                m.clear &= !f;
            }
            Effect::Clear(f) => {
                m.flags &= !f;
                m.clear |= f;
            }
            Effect::Propagation(p) => m.propagation.push(p),
            Effect::Bind { recursive } => {
                m.bind = true;
                m.flags |= BIND | if recursive { REC } else { 0 };
                m.clear &= !(BIND | if recursive { REC } else { 0 });
            }
            Effect::Idmap { recursive } => m.idmap = Some(recursive),
            Effect::Ignored => {}
            Effect::Recursive => m.recursive.push(j),
        }
    }
    m
}

fn maps(m: &[Map]) -> Value {
    m.iter()
        .map(|Map(c, h, s)| json!({"containerID": c, "hostID": h, "size": s}))
        .collect()
}

fn base() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
        "linux": {"namespaces": [{"type": "mount"}]},
        "mounts": [],
    })
}

impl Case {
    /// Runs every check.
    pub fn check(&self) {
        let opts: Vec<String> = self.options.iter().map(Opt::text).collect();
        self.check_parse(&opts);
        let i = self.index as usize % 4;
        let mut entry = json!({"destination": "/m", "source": "/src", "options": opts});
        if let Some(t) = &self.typ {
            entry["type"] = Value::String(t.text());
        }
        self.check_validate(i, &opts, &entry);
        self.check_idmap(i, &opts, entry);
        self.check_rootfs_propagation();
    }

    fn check_parse(&self, opts: &[String]) {
        let got = options::parse(opts);
        let want = model(opts);
        let bits = |f: MsFlags| f.bits();
        assert_eq!(bits(got.flags), want.flags, "flags of {opts:?}");
        assert_eq!(bits(got.clear), want.clear, "cleared flags of {opts:?}");
        assert_eq!(
            bits(got.flags) & bits(got.clear),
            0,
            "set and cleared: {opts:?}"
        );
        let props: Vec<u64> = got.propagation.iter().map(|&p| bits(p)).collect();
        assert_eq!(props, want.propagation, "propagation of {opts:?}");
        assert_eq!(got.data, want.data.join(","), "data of {opts:?}");
        assert_eq!(got.bind, want.bind, "bind of {opts:?}");
        assert_eq!(got.idmap, want.idmap, "idmap of {opts:?}");
        assert_eq!(got.recursive, want.recursive, "recursive attrs of {opts:?}");
        match options::for_mount(7, opts) {
            Ok(o) => assert!(want.recursive.is_empty() && o == got),
            Err(e) => {
                let j = want.recursive[0];
                let prefix = format!("mounts[7].options[{j}]: ");
                let e = e.to_string();
                assert!(e.starts_with(&prefix), "{opts:?}: {e}");
            }
        }
    }

    /// config validation refuses exactly the mounts the parser flags, naming the option.
    fn check_validate(&self, i: usize, opts: &[String], entry: &Value) {
        let mut spec = base();
        let plain =
            json!({"destination": "/p", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]});
        let mounts = spec["mounts"].as_array_mut().unwrap();
        mounts.extend(std::iter::repeat_n(plain, i));
        mounts.push(entry.clone());
        let Ok(spec) = serde_json::from_value::<Spec>(spec) else {
            return;
        };
        let want = model(opts);
        match dm_runtime::config::validate(&spec) {
            Ok(()) => assert!(want.recursive.is_empty(), "{opts:?} validated"),
            Err(e) => {
                let e = e.to_string();
                let j = want
                    .recursive
                    .first()
                    .unwrap_or_else(|| panic!("{opts:?}: {e}"));
                assert!(e.contains(&format!("mounts[{i}].options[{j}]")), "{e}");
            }
        }
    }

    fn check_idmap(&self, i: usize, opts: &[String], mut entry: Value) {
        if let Some(u) = &self.uid_mappings {
            entry["uidMappings"] = maps(u);
        }
        if let Some(g) = &self.gid_mappings {
            entry["gidMappings"] = maps(g);
        }
        let mut spec = base();
        if let Some((u, g)) = &self.linux_maps {
            spec["linux"]["uidMappings"] = maps(u);
            spec["linux"]["gidMappings"] = maps(g);
        }
        spec["mounts"] = json!([entry]);
        let Ok(spec) = serde_json::from_value::<Spec>(spec) else {
            return;
        };
        let m = &spec.mounts().as_ref().unwrap()[0];
        let want = model(opts);
        let is_bind = want.bind || m.typ().as_deref() == Some("bind");
        match idmap::wanted(&spec, i, m) {
            Ok(None) => assert!(
                want.idmap.is_none() && self.uid_mappings.is_none() && self.gid_mappings.is_none(),
                "{opts:?}: idmap asked for but not done"
            ),
            Ok(Some((recursive, u, g))) => {
                assert!(is_bind, "{opts:?}: idmapped mount that is not a bind");
                let rec = want.idmap.unwrap_or(want.flags & REC != 0);
                assert_eq!(recursive, rec, "{opts:?}: recursion");
                assert!(!u.is_empty() && !g.is_empty());
                let (mu, mg) = (m.uid_mappings().as_ref(), m.gid_mappings().as_ref());
                let linux = spec.linux().as_ref().unwrap();
                let (lu, lg) = (linux.uid_mappings().as_ref(), linux.gid_mappings().as_ref());
                assert_eq!(Some(&u), mu.or(lu), "uid mappings used");
                assert_eq!(Some(&g), mg.or(lg), "gid mappings used");
            }
            Err(e) => {
                let e = e.to_string();
                let ok = [":", ".uidMappings:", ".gidMappings:"]
                    .iter()
                    .any(|f| e.starts_with(&format!("mounts[{i}]{f}")));
                assert!(ok, "{opts:?}: error names no field: {e}");
            }
        }
    }

    fn check_rootfs_propagation(&self) {
        let Some(v) = self.rootfs_propagation.as_ref().map(Opt::text) else {
            assert_eq!(options::rootfs_propagation(None).bits(), SLAVE | REC);
            return;
        };
        let documented = TABLE.iter().find_map(|(n, e)| match e {
            Effect::Propagation(p) if *n == v => Some(*p),
            _ => None,
        });
        let mut spec = base();
        spec["linux"]["rootfsPropagation"] = Value::String(v.clone());
        let spec: Spec = serde_json::from_value(spec).expect("a string is a rootfsPropagation");
        let valid = dm_runtime::config::validate(&spec);
        match documented {
            Some(p) => {
                valid.unwrap();
                assert_eq!(options::rootfs_propagation(Some(&v)).bits(), p);
            }
            None if v.is_empty() => {
                valid.unwrap();
                assert_eq!(options::rootfs_propagation(Some(&v)).bits(), SLAVE | REC);
            }
            None => {
                let e = valid
                    .expect_err("undocumented propagation accepted")
                    .to_string();
                assert!(e.starts_with("linux.rootfsPropagation: "), "{e}");
            }
        }
    }
}
