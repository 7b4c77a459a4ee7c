//! Content digests `<algorithm>:<hex>` for the algorithms OCI and containerd accept: sha256
//! (the canonical one, used when a writer names no digest), sha384 and sha512.

use crate::error::Error;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use std::fmt;
use std::str::FromStr;

/// A digest algorithm the store supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the canonical algorithm.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 3] = [Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512];

    /// Its name in digests and in `blobs/<name>/` directories.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of its hex encoding.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A validated digest. Ordered as its text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    text: String,
    alg: Algorithm,
}

impl Digest {
    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The lowercase hex part, which names the blob file.
    pub fn hex(&self) -> &str {
        &self.text[self.alg.name().len() + 1..]
    }

    /// The sha256 digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest::of_with(Algorithm::Sha256, data)
    }

    /// The `alg` digest of `data`.
    pub fn of_with(alg: Algorithm, data: &[u8]) -> Digest {
        let mut h = Hasher::with_algorithm(alg);
        h.update(data);
        h.digest()
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Digest, Error> {
        let invalid = |why: String| Error::InvalidArgument(format!("digest {s:?}: {why}"));
        let Some((name, hex)) = s.split_once(':') else {
            return Err(invalid("expected <algorithm>:<hex>".into()));
        };
        let alg = Algorithm::from_name(name).ok_or_else(|| {
            invalid(format!(
                "unsupported digest algorithm {name:?} (supported: sha256, sha384, sha512)"
            ))
        })?;
        let lower_hex = hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex.len() != alg.hex_len() || !lower_hex {
            return Err(invalid(format!(
                "{alg} needs {} lowercase hex characters, got {} characters{}",
                alg.hex_len(),
                hex.len(),
                if lower_hex { "" } else { " with non-hex ones" }
            )));
        }
        Ok(Digest {
            text: s.to_owned(),
            alg,
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Clone)]
enum State {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

/// Incremental hash of streamed bytes under one algorithm.
#[derive(Clone)]
pub struct Hasher(State);

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

impl Hasher {
    /// A sha256 hasher over no bytes yet.
    pub fn new() -> Hasher {
        Hasher::with_algorithm(Algorithm::Sha256)
    }

    /// An `alg` hasher over no bytes yet.
    pub fn with_algorithm(alg: Algorithm) -> Hasher {
        Hasher(match alg {
            Algorithm::Sha256 => State::Sha256(Sha256::new()),
            Algorithm::Sha384 => State::Sha384(Sha384::new()),
            Algorithm::Sha512 => State::Sha512(Sha512::new()),
        })
    }

    /// The algorithm it computes.
    pub fn algorithm(&self) -> Algorithm {
        match self.0 {
            State::Sha256(_) => Algorithm::Sha256,
            State::Sha384(_) => Algorithm::Sha384,
            State::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            State::Sha256(h) => h.update(data),
            State::Sha384(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far (the hasher stays usable).
    pub fn digest(&self) -> Digest {
        let sum = match &self.0 {
            State::Sha256(h) => h.clone().finalize().to_vec(),
            State::Sha384(h) => h.clone().finalize().to_vec(),
            State::Sha512(h) => h.clone().finalize().to_vec(),
        };
        let alg = self.algorithm();
        let mut text = String::with_capacity(alg.name().len() + 1 + alg.hex_len());
        text.push_str(alg.name());
        text.push(':');
        for b in sum {
            text.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            text.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
        Digest { text, alg }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_of_abc_for_every_algorithm() {
        // FIPS 180-2 test vectors for "abc".
        let want = [
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha384:cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7",
            "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ];
        for (alg, want) in Algorithm::ALL.into_iter().zip(want) {
            let d = Digest::of_with(alg, b"abc");
            assert_eq!(d.to_string(), want);
            assert_eq!(d.algorithm(), alg);
            assert_eq!(d.hex().len(), alg.hex_len());
            assert_eq!(want.parse::<Digest>().unwrap(), d);
        }
        assert_eq!(Digest::of(b"abc").algorithm(), Algorithm::Sha256);
    }

    #[test]
    fn streamed_and_one_shot_hashes_agree() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for alg in Algorithm::ALL {
            let mut h = Hasher::with_algorithm(alg);
            for part in data.chunks(333) {
                h.update(part);
            }
            assert_eq!(h.digest(), Digest::of_with(alg, &data));
            assert_eq!(h.algorithm(), alg);
        }
    }

    #[test]
    fn malformed_digests_are_refused_naming_the_digest() {
        let cases = [
            ("", "expected <algorithm>:<hex>"),
            ("sha256", "expected <algorithm>:<hex>"),
            (
                "md5:d41d8cd98f00b204e9800998ecf8427e",
                "unsupported digest algorithm \"md5\"",
            ),
            ("SHA256:00", "unsupported digest algorithm"),
            (
                "sha512:00",
                "sha512 needs 128 lowercase hex characters, got 2",
            ),
            (&format!("sha384:{}", "0".repeat(64)), "sha384 needs 96"),
            (&format!("sha256:{}", "0".repeat(128)), "sha256 needs 64"),
            (&format!("sha256:{}", "A".repeat(64)), "non-hex"),
        ];
        for (bad, why) in cases {
            let err = bad.parse::<Digest>().unwrap_err().to_string();
            assert!(err.contains(&format!("digest {bad:?}")), "{bad}: {err}");
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.ends_with("invalid argument"), "{bad}: {err}");
        }
    }
}
