//! CNI mode entry points.

use super::*;

impl Networks {
    /// CNI mode: attaches the container to the network `conflist` describes by running its
    /// plugins (ADD), passing `ports` to plugins with the `portMappings` capability. Returns
    /// the CNI result (interfaces, ips, routes, dns).
    pub fn cni_attach(
        &self,
        container: &str,
        netns: &Path,
        conflist: &serde_json::Value,
        ifname: &str,
        ports: &[PortMapping],
    ) -> Result<serde_json::Value> {
        check_name("container id", container, 128)?;
        check_name("ifname", ifname, 15)?;
        let network = crate::cni::conflist_name(conflist)?;
        check_name("cni conflist name", &network, 64)?;
        let _lock = self.store.lock()?;
        if self.store.cni(container, &network)?.is_some() {
            return Err(Error::AlreadyAttached {
                container: container.into(),
                network,
            });
        }
        let mut rec = crate::cni::CniRecord {
            container: container.into(),
            network,
            netns: netns.to_path_buf(),
            ifname: ifname.into(),
            conflist: conflist.clone(),
            ports: ports.to_vec(),
            result: None,
        };
        self.store.put_cni(&rec)?;
        match self.in_host(|_| crate::cni::add(&rec, &self.cni_dirs)) {
            Ok(result) => {
                crate::crash::point("cni:added");
                rec.result = Some(result.clone());
                self.store.put_cni(&rec)?;
                Ok(result)
            }
            Err(e) => {
                self.store.del_cni(container, &rec.network)?;
                Err(e)
            }
        }
    }

    /// CNI mode: detaches the container from CNI network `network` (DEL through its plugins).
    pub fn cni_detach(&self, container: &str, network: &str) -> Result<()> {
        let _lock = self.store.lock()?;
        let rec = self
            .store
            .cni(container, network)?
            .ok_or_else(|| Error::NotAttached {
                container: container.into(),
                network: network.into(),
            })?;
        self.in_host(|_| crate::cni::del(&rec, &self.cni_dirs))?;
        self.store.del_cni(container, network)
    }
}
