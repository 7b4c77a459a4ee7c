//! Name resolution for containers.

use super::*;

impl Networks {
    /// The addresses `name` (a container name, alias or id) has for `container`: those of
    /// containers on the networks `container` is attached to.
    pub fn resolve(&self, container: &str, name: &str) -> Result<Vec<Ipv4Addr>> {
        crate::resolver::lookup(&self.store, container, name.trim_end_matches('.'))
    }

    /// Starts the embedded DNS resolver for `container` at 127.0.0.11:53 in its namespace,
    /// forwarding unknown names to `upstream` (from the host namespace). Stop it (drop) before
    /// the container's namespace goes, as its socket keeps the namespace alive.
    pub fn start_resolver(
        &self,
        container: &str,
        netns: &Path,
        upstream: &[std::net::SocketAddr],
    ) -> Result<crate::Resolver> {
        crate::resolver::start(
            self.store.clone(),
            container,
            netns,
            self.host_netns.as_deref(),
            upstream,
        )
    }
}
