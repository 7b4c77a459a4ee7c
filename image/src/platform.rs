//! Platforms (`os/arch[/variant]`) and the choice of one manifest from an index.

use std::fmt;
use std::str::FromStr;

/// A platform to select from an image index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`, `windows`, ...
    pub os: String,
    /// GOARCH names: `amd64`, `arm64`, `arm`, ...
    pub architecture: String,
    /// `v7`, `v8`, ... if it matters.
    pub variant: Option<String>,
}

impl Default for Platform {
    /// linux/amd64, what a pull picks unless told otherwise.
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

/// A `--platform` value that is not `os/arch[/variant]`.
#[derive(Debug, thiserror::Error)]
#[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/amd64 or linux/arm/v7")]
pub struct PlatformError(pub String);

/// GOARCH for the names `uname -m` and others use.
fn normalise_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i686" => "386",
        a => a,
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok) {
            return Err(PlatformError(s.to_owned()));
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: normalise_arch(&parts[1].to_ascii_lowercase()).to_owned(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// The platform an index entry declares.
    pub fn of(p: &oci_spec::image::Platform) -> Platform {
        Platform {
            os: p.os().to_string(),
            architecture: normalise_arch(&p.architecture().to_string()).to_owned(),
            variant: p.variant().clone().filter(|v| !v.is_empty()),
        }
    }

    /// How well `candidate` serves this wanted platform: `None` if not at all, higher is better
    /// (an exact variant beats an entry that names none; arm64 without variant is v8).
    pub fn score(&self, candidate: &Platform) -> Option<u8> {
        if self.os != candidate.os || self.architecture != candidate.architecture {
            return None;
        }
        let implied = |p: &Platform| match (p.variant.as_deref(), p.architecture.as_str()) {
            (None, "arm64") => Some("v8".to_owned()),
            (v, _) => v.map(str::to_owned),
        };
        match (implied(self), implied(candidate)) {
            (Some(w), Some(c)) if w == c => Some(2),
            (Some(_), Some(_)) => None,
            (None, None) => Some(2),
            _ => Some(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_normalise() {
        assert_eq!(p("linux/x86_64"), Platform::default());
        assert_eq!(p("Linux/aarch64").to_string(), "linux/arm64");
        assert_eq!(p("linux/arm/v7").variant.as_deref(), Some("v7"));
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/am d64"] {
            let e = bad.parse::<Platform>().unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn scores_prefer_exact_variants() {
        assert_eq!(p("linux/amd64").score(&p("linux/amd64")), Some(2));
        assert_eq!(p("linux/amd64").score(&p("linux/arm64")), None);
        assert_eq!(p("linux/amd64").score(&p("windows/amd64")), None);
        assert_eq!(p("linux/arm/v7").score(&p("linux/arm/v6")), None);
        assert_eq!(p("linux/arm/v7").score(&p("linux/arm")), Some(1));
        assert_eq!(p("linux/arm64").score(&p("linux/arm64/v8")), Some(2));
        assert_eq!(p("linux/amd64").score(&p("linux/amd64/v3")), Some(1));
    }
}
