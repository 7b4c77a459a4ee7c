//! `--network` values: which networking a container gets.

use std::str::FromStr;

use crate::error::Error;

/// A container's networking, as `docker run --network` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Attached to this bridge network (`bridge` is the default network's name).
    Network(String),
    /// Its own namespace with loopback only (`setup_none`).
    None,
    /// The host's namespace: the runtime creates no network namespace, nothing to do here.
    Host,
    /// Another container's namespace (`container:<id>`): the runtime joins it; that
    /// container's endpoints serve both.
    Container(String),
}

impl FromStr for Mode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Mode, Error> {
        Ok(match s {
            "" => return Err(Error::invalid("network", "empty")),
            "none" => Mode::None,
            "host" => Mode::Host,
            _ => match s.strip_prefix("container:") {
                Some("") => return Err(Error::invalid("network", "container: needs an id")),
                Some(id) => Mode::Container(id.to_string()),
                None => Mode::Network(s.to_string()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_network_values() {
        assert_eq!("none".parse::<Mode>().unwrap(), Mode::None);
        assert_eq!("host".parse::<Mode>().unwrap(), Mode::Host);
        assert_eq!(
            "bridge".parse::<Mode>().unwrap(),
            Mode::Network("bridge".into())
        );
        assert_eq!(
            "container:abc".parse::<Mode>().unwrap(),
            Mode::Container("abc".into())
        );
        assert!("container:".parse::<Mode>().is_err());
        assert!("".parse::<Mode>().is_err());
    }
}
