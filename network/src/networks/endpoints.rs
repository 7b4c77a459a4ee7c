//! Attaching containers to bridge networks and detaching them.

use super::*;

impl Networks {
    /// Connects the container whose network namespace is `netns` to `network`.
    pub fn attach(
        &self,
        container: &str,
        netns: &Path,
        network: &str,
        opts: &AttachOptions,
    ) -> Result<Endpoint> {
        check_name("container id", container, 128)?;
        if let Some(n) = &opts.ifname {
            check_name("ifname", n, 15)?;
        }
        let _lock = self.store.lock()?;
        let net = self
            .store
            .network(network)?
            .filter(|n| n.complete)
            .ok_or_else(|| Error::NoSuchNetwork(network.into()))?;
        let all = self.store.endpoints()?;
        if all
            .iter()
            .any(|e| e.container == container && e.network == network)
        {
            return Err(Error::AlreadyAttached {
                container: container.into(),
                network: network.into(),
            });
        }
        let used: Vec<Ipv4Addr> = all
            .iter()
            .filter(|e| e.network == network)
            .map(|e| e.endpoint.ip)
            .collect();
        let ip = ipam::allocate(&net, &used, opts.ip)?;
        let has_default = all
            .iter()
            .any(|e| e.container == container && e.endpoint.default_route);
        let h = short_hash(&format!("{container}@{}", net.id));
        let mut rec = EndpointRecord {
            container: container.into(),
            network: network.into(),
            netns: netns.to_path_buf(),
            host_veth: format!("dmv{h}"),
            names: opts.name.iter().chain(&opts.aliases).cloned().collect(),
            endpoint: Endpoint {
                network: network.into(),
                ifname: String::new(),
                ip,
                prefix: net.subnet.prefix_len(),
                gateway: net.gateway,
                mac: bridge::mac_string(ip.octets()),
                default_route: !net.internal && !has_default,
            },
            ports: Vec::new(),
            rules: Vec::new(),
            complete: false,
        };
        self.store.put_endpoint(&rec)?;
        let peer = format!("dmp{h}");
        let made = self
            .in_host(|nl| bridge::plug(nl, &net.bridge, &rec.host_veth, &peer, netns))
            .and_then(|_| {
                crate::crash::point("attach:plugged");
                in_netns(Some(netns), || {
                    bridge::configure(&Nl::new()?, &peer, opts.ifname.as_deref(), &rec.endpoint)
                })
            });
        match made {
            Ok(ifname) => rec.endpoint.ifname = ifname,
            Err(e) => {
                // Deleting the host end removes its peer too, wherever it went.
                self.in_host(|nl| nl.del_link(&rec.host_veth))?;
                self.store.del_endpoint(container, network)?;
                return Err(e);
            }
        }
        rec.complete = true;
        self.store.put_endpoint(&rec)?;
        Ok(rec.endpoint)
    }

    /// Disconnects the container from `network`: its interface, ports and rules go.
    pub fn detach(&self, container: &str, network: &str) -> Result<()> {
        let _lock = self.store.lock()?;
        let rec = self
            .store
            .endpoint(container, network)?
            .ok_or_else(|| Error::NotAttached {
                container: container.into(),
                network: network.into(),
            })?;
        self.teardown_endpoint(&rec)
    }

    pub(super) fn teardown_endpoint(&self, rec: &EndpointRecord) -> Result<()> {
        self.in_host(|nl| {
            if let Some(e) = firewall::del_all(&rec.rules) {
                return Err(e);
            }
            nl.del_link(&rec.host_veth)
        })?;
        self.store.del_endpoint(&rec.container, &rec.network)?;
        if rec.endpoint.default_route && rec.complete {
            self.move_default_route(&rec.container)?;
        }
        Ok(())
    }

    /// After the endpoint with the default route went: the container's next endpoint on a
    /// network with a way out takes it over, as docker does, so it is not cut off.
    fn move_default_route(&self, container: &str) -> Result<()> {
        let nets = self.store.networks()?;
        let next = self.store.endpoints()?.into_iter().find(|e| {
            e.container == container
                && e.complete
                && nets.iter().any(|n| n.name == e.network && !n.internal)
        });
        let Some(mut e) = next else {
            return Ok(());
        };
        if !e.netns.exists() {
            return Ok(());
        }
        in_netns(Some(&e.netns), || {
            Nl::new()?.add_default_route(e.endpoint.gateway)
        })?;
        e.endpoint.default_route = true;
        self.store.put_endpoint(&e)
    }

    /// Disconnects the container from every network (container stop or removal).
    pub fn release(&self, container: &str) -> Result<()> {
        let _lock = self.store.lock()?;
        for rec in self
            .store
            .endpoints()?
            .into_iter()
            .filter(|e| e.container == container)
        {
            self.teardown_endpoint(&rec)?;
        }
        for c in self
            .store
            .cnis()?
            .into_iter()
            .filter(|c| c.container == container)
        {
            self.in_host(|_| crate::cni::del(&c, &self.cni_dirs))?;
            self.store.del_cni(&c.container, &c.network)?;
        }
        Ok(())
    }
}
