//! What a snapshot is: its kind, name, parent, labels and times.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::SystemTime;

/// containerd's snapshot kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Read-only view of a committed parent; cannot be committed.
    View,
    /// Writable snapshot being prepared; becomes committed on Commit.
    Active,
    /// Immutable snapshot other snapshots may descend from.
    Committed,
}

impl Kind {
    /// The name containerd's filters and `ctr` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::View => "view",
            Kind::Active => "active",
            Kind::Committed => "committed",
        }
    }
}

/// Public facts about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Its kind.
    pub kind: Kind,
    /// Its key (active, view) or name (committed).
    pub name: String,
    /// Name of its parent, empty when it has none.
    pub parent: String,
    /// User labels.
    pub labels: HashMap<String, String>,
    /// Creation time.
    pub created: SystemTime,
    /// Last change time.
    pub updated: SystemTime,
}

/// Disk resources a snapshot uses on its own, parents excluded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Bytes allocated on disk.
    pub size: i64,
    /// Inodes used.
    pub inodes: i64,
}

/// The most bytes containerd accepts for one label's key plus value.
pub const MAX_LABEL_BYTES: usize = 4096;

/// Refuses labels containerd itself would refuse (empty key, key+value over 4096 bytes).
pub fn validate_labels(labels: &HashMap<String, String>) -> crate::Result<()> {
    for (k, v) in labels {
        if k.is_empty() {
            return Err(crate::Error::invalid("labels", "empty label key"));
        }
        if k.len() + v.len() > MAX_LABEL_BYTES {
            return Err(crate::Error::invalid(
                &format!("labels.{k}"),
                format!(
                    "key and value are {} bytes, more than {MAX_LABEL_BYTES}",
                    k.len() + v.len()
                ),
            ));
        }
    }
    Ok(())
}

impl dm_filters::Fields for Info {
    /// containerd's snapshot filter fields: `kind`, `name`, `parent` and `labels.<key>`.
    fn field(&self, path: &[String]) -> Option<String> {
        match path.first().map(String::as_str)? {
            "kind" if path.len() == 1 => Some(self.kind.as_str().to_owned()),
            "name" if path.len() == 1 => Some(self.name.clone()),
            "parent" if path.len() == 1 => Some(self.parent.clone()),
            "labels" => dm_filters::label_field(&self.labels, &path[1..]),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_filters::Filter;

    #[test]
    fn filters_see_kind_name_parent_and_labels() {
        let info = Info {
            kind: Kind::Active,
            name: "default/3/a".into(),
            parent: "default/2/p".into(),
            labels: HashMap::from([("containerd.io/gc.root".into(), "x".into())]),
            created: SystemTime::UNIX_EPOCH,
            updated: SystemTime::UNIX_EPOCH,
        };
        let m = |f: &[&str]| Filter::parse_all(f).unwrap().matches(&info);
        assert!(m(&["kind==active", "kind==view"]));
        assert!(!m(&["kind==committed"]));
        assert!(m(&["name~=^default/3/,parent==default/2/p"]));
        assert!(!m(&["parent==default/2/p,name==b"]));
        assert!(m(&[r#"labels."containerd.io/gc.root"==x"#]));
        assert!(!m(&["labels.other", "kind.sub"]));
    }
}
