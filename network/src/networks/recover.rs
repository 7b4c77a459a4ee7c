//! Cleaning up after a crash or restart.

use super::*;

impl Networks {
    /// After a crash or restart: removes half-made networks and endpoints, endpoints of
    /// containers `keep` rejects or whose namespace is gone, and re-makes what complete
    /// networks and kept endpoints need (bridge, rules) so kept containers stay connected.
    pub fn recover(&self, keep: impl Fn(&str) -> bool) -> Result<Recovered> {
        let _lock = self.store.lock()?;
        let mut out = Recovered::default();
        for c in self.store.cnis()? {
            if c.result.is_none() || !keep(&c.container) || !c.netns.exists() {
                self.in_host(|_| crate::cni::del(&c, &self.cni_dirs))?;
                self.store.del_cni(&c.container, &c.network)?;
                out.endpoints.push((c.container, c.network));
            }
        }
        for e in self.store.endpoints()? {
            if !e.complete || !keep(&e.container) || !e.netns.exists() {
                self.teardown_endpoint(&e)?;
                out.endpoints.push((e.container, e.network));
            }
        }
        for n in self.store.networks()? {
            if n.complete {
                self.in_host(|nl| self.ensure_network(nl, &n, false))?;
            } else {
                self.teardown_network(&n)?;
                out.networks.push(n.name);
            }
        }
        // Rules of kept endpoints (published ports) come back too if something flushed them,
        // say a firewall reload while the daemon was down.
        for e in self.store.endpoints()? {
            self.in_host(|_| firewall::add_all(&e.rules))?;
        }
        if self.store.networks()?.is_empty() {
            self.drop_base_if_unused()?;
        }
        Ok(out)
    }
}
