//! Network endpoints of the Engine API: list, inspect, create, remove, connect, disconnect,
//! prune; the predefined `bridge`, `host` and `none` networks.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query};
use crate::netattach::{api_error, endpoint_id, EndpointConfig};
use dm_network::{NetworkRecord, NetworkSpec, DEFAULT_NETWORK};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Networks that exist without being made and cannot be removed.
const PREDEFINED: [&str; 3] = [DEFAULT_NETWORK, "host", "none"];

/// What the daemon keeps about a network beside dm-network's record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Meta {
    created: String,
    labels: BTreeMap<String, String>,
}

/// 64 hex digits from any text (FNV-1a over four seeds): ids that need no storage.
pub fn hash64(s: &str) -> String {
    (0u64..4)
        .map(|seed| {
            let mut h: u64 = 0xcbf29ce484222325 ^ seed.wrapping_mul(0x9e3779b97f4a7c15);
            for b in s.bytes() {
                h = (h ^ b as u64).wrapping_mul(0x100000001b3);
            }
            format!("{h:016x}")
        })
        .collect()
}

/// The id of the `host` or `none` network, stable for this daemon's root.
pub fn pseudo_id(d: &Daemon, name: &str) -> String {
    hash64(&format!("{}/{name}", d.id()))
}

fn meta_path(d: &Daemon, name: &str) -> std::path::PathBuf {
    d.cfg.root.join("network-meta").join(format!("{name}.json"))
}

fn meta(d: &Daemon, name: &str) -> Meta {
    std::fs::read(meta_path(d, name))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| Meta {
            created: crate::record::now_rfc3339(),
            ..Default::default()
        })
}

fn save_meta(d: &Daemon, name: &str, m: &Meta) -> ApiResult<()> {
    let p = meta_path(d, name);
    let tmp = p.with_extension("tmp");
    std::fs::create_dir_all(p.parent().expect("has a parent"))
        .and_then(|_| std::fs::write(&tmp, serde_json::to_vec(m).unwrap_or_default()))
        .and_then(|_| std::fs::rename(&tmp, &p))
        .map_err(|e| ApiError::internal(format!("write {}: {e}", p.display())))
}

/// A network as the API shows it: a bridge network, or `host`/`none`.
enum Net {
    Bridge(NetworkRecord),
    Pseudo(&'static str),
}

impl Net {
    fn name(&self) -> &str {
        match self {
            Net::Bridge(r) => &r.name,
            Net::Pseudo(n) => n,
        }
    }

    fn id(&self, d: &Daemon) -> String {
        match self {
            Net::Bridge(r) => r.id.clone(),
            Net::Pseudo(n) => pseudo_id(d, n),
        }
    }
}

fn all(d: &Daemon) -> ApiResult<Vec<Net>> {
    let mut out: Vec<Net> = d
        .net
        .nets
        .list()
        .map_err(api_error)?
        .into_iter()
        .filter(|n| n.complete)
        .map(Net::Bridge)
        .collect();
    out.push(Net::Pseudo("host"));
    out.push(Net::Pseudo("none"));
    Ok(out)
}

fn find(d: &Daemon, key: &str) -> ApiResult<Net> {
    let nets = all(d)?;
    let mut hits: Vec<Net> = Vec::new();
    for n in nets {
        let id = n.id(d);
        if n.name() == key || id == key {
            return Ok(n);
        }
        if !key.is_empty() && id.starts_with(key) {
            hits.push(n);
        }
    }
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => Err(ApiError::not_found(format!("network {key} not found"))),
        n => Err(ApiError::bad(format!(
            "network {key} is ambiguous ({n} matches found based on ID prefix)"
        ))),
    }
}

fn to_json(d: &Daemon, n: &Net) -> Value {
    let name = n.name().to_owned();
    let m = meta(d, &name);
    let (driver, ipam, internal, options) = match n {
        Net::Bridge(r) => (
            "bridge",
            json!([{"Subnet": r.subnet.to_string(), "Gateway": r.gateway.to_string()}]),
            r.internal,
            json!({"com.docker.network.bridge.name": r.bridge}),
        ),
        Net::Pseudo(p) => (
            if *p == "host" { "host" } else { "null" },
            json!([]),
            false,
            json!({}),
        ),
    };
    let mut containers = serde_json::Map::new();
    for e in d.net.nets.endpoints().unwrap_or_default() {
        if e.network != name || !e.complete {
            continue;
        }
        let cname = d.record(&e.container).map(|r| r.name).unwrap_or_default();
        containers.insert(
            e.container.clone(),
            json!({
                "Name": cname,
                "EndpointID": endpoint_id(&e.container, &e.network),
                "MacAddress": e.endpoint.mac,
                "IPv4Address": format!("{}/{}", e.endpoint.ip, e.endpoint.prefix),
                "IPv6Address": "",
            }),
        );
    }
    json!({
        "Name": name,
        "Id": n.id(d),
        "Created": m.created,
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": ipam},
        "Internal": internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": m.labels,
    })
}

/// Docker's filters parameter: `{"name":{"x":true}}` or `{"name":["x"]}`.
fn filters(q: &Query) -> ApiResult<Vec<(String, String)>> {
    let Some(raw) = q.get("filters").filter(|f| !f.is_empty()) else {
        return Ok(vec![]);
    };
    let v: Value =
        serde_json::from_str(raw).map_err(|e| ApiError::bad(format!("invalid filters: {e}")))?;
    let mut out = vec![];
    for (k, vals) in v.as_object().into_iter().flatten() {
        match vals {
            Value::Object(m) => out.extend(m.keys().map(|x| (k.clone(), x.clone()))),
            Value::Array(a) => out.extend(
                a.iter()
                    .filter_map(|x| x.as_str())
                    .map(|x| (k.clone(), x.to_owned())),
            ),
            _ => return Err(ApiError::bad(format!("invalid filter {k:?}"))),
        }
    }
    Ok(out)
}

fn matches(d: &Daemon, n: &Net, fs: &[(String, String)]) -> ApiResult<bool> {
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in fs {
        by_key.entry(k.as_str()).or_default().push(v.as_str());
    }
    let Meta { created, labels } = meta(d, n.name());
    for (k, vals) in by_key {
        let ok = match k {
            "name" => vals.iter().any(|v| n.name().contains(v)),
            "id" => vals.iter().any(|v| n.id(d).starts_with(v)),
            "driver" => vals.iter().any(|v| {
                *v == match n {
                    Net::Bridge(_) => "bridge",
                    Net::Pseudo("host") => "host",
                    Net::Pseudo(_) => "null",
                }
            }),
            "type" => vals.iter().any(|v| match *v {
                "builtin" => PREDEFINED.contains(&n.name()),
                "custom" => !PREDEFINED.contains(&n.name()),
                _ => false,
            }),
            "scope" => vals.contains(&"local"),
            "label" => vals.iter().all(|v| {
                let (lk, lv) = v.split_once('=').map_or((*v, None), |(a, b)| (a, Some(b)));
                labels.get(lk).is_some_and(|x| lv.is_none_or(|lv| lv == x))
            }),
            // prune's age filter: made before every given time.
            "until" => {
                let made = crate::filter::created_secs(&created);
                let mut older = true;
                for v in vals {
                    let u = crate::filter::parse_time(v)
                        .ok_or_else(|| ApiError::bad(format!("invalid filter 'until={v}'")))?;
                    older &= made < u;
                }
                older
            }
            other => return Err(ApiError::bad(format!("invalid filter '{other}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `GET /networks?filters=`.
pub fn list(d: &Arc<Daemon>, q: &Query) -> ApiResult<Response<Body>> {
    let fs = filters(q)?;
    let mut out = vec![];
    for n in all(d)? {
        if matches(d, &n, &fs)? {
            out.push(to_json(d, &n));
        }
    }
    Ok(http::json(StatusCode::OK, &out))
}

/// `GET /networks/{id}`.
pub fn inspect(d: &Arc<Daemon>, key: &str) -> ApiResult<Response<Body>> {
    let n = find(d, key)?;
    Ok(http::json(StatusCode::OK, &to_json(d, &n)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct IpamPool {
    subnet: String,
    gateway: String,
    #[serde(rename = "IPRange")]
    ip_range: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    driver: String,
    config: Option<Vec<IpamPool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    internal: bool,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    labels: Option<BTreeMap<String, String>>,
    options: Option<BTreeMap<String, String>>,
}

/// Subnets tried, in order, for a network created without one (docker's pools, minus the
/// default bridge's 172.30.0.0/16 and docker's own 172.17.0.0/16).
fn candidate_subnets() -> impl Iterator<Item = Ipv4Net> {
    let big = (18u8..=29)
        .chain(31..=31)
        .map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let small = (0u8..=240)
        .step_by(16)
        .map(|c| Ipv4Net::new(Ipv4Addr::new(192, 168, c, 0), 20));
    big.chain(small).map(|n| n.expect("valid prefix"))
}

/// `POST /networks/create`.
pub async fn create(d: &Arc<Daemon>, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let body: CreateBody = http::read_json(req).await?;
    if body.name.is_empty() {
        return Err(ApiError::bad("Name is required: give the network a name"));
    }
    if PREDEFINED.contains(&body.name.as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{} is a pre-defined network and cannot be created",
                body.name
            ),
        ));
    }
    match body.driver.as_str() {
        "" | "bridge" => {}
        other => {
            return Err(ApiError::not_found(format!(
                "plugin \"{other}\" not found (only the bridge driver is served)"
            )))
        }
    }
    if body.enable_ipv6 {
        return Err(ApiError::bad("EnableIPv6: IPv6 networks are not supported"));
    }
    let ipam = body.ipam.unwrap_or_default();
    if !matches!(ipam.driver.as_str(), "" | "default") {
        return Err(ApiError::bad(format!(
            "IPAM.Driver {:?}: only the default driver is served",
            ipam.driver
        )));
    }
    let pools = ipam.config.unwrap_or_default();
    if pools.len() > 1 {
        return Err(ApiError::bad(
            "IPAM.Config: one IPv4 pool per network is supported",
        ));
    }
    let (subnet, gateway) = match pools.first() {
        None => (None, None),
        Some(p) => {
            if !p.ip_range.is_empty() {
                return Err(ApiError::bad("IPAM.Config.IPRange is not supported"));
            }
            let subnet = match p.subnet.as_str() {
                "" => None,
                s => Some(s.parse::<Ipv4Net>().map_err(|_| {
                    ApiError::bad(format!("invalid subnet {s}: want an IPv4 CIDR"))
                })?),
            };
            let gateway = match p.gateway.as_str() {
                "" => None,
                g => Some(g.parse::<Ipv4Addr>().map_err(|_| {
                    ApiError::bad(format!("invalid gateway {g}: want an IPv4 address"))
                })?),
            };
            if gateway.is_some() && subnet.is_none() {
                return Err(ApiError::bad("IPAM.Config.Gateway needs a Subnet"));
            }
            (subnet, gateway)
        }
    };
    let bridge = body
        .options
        .as_ref()
        .and_then(|o| o.get("com.docker.network.bridge.name").cloned());
    if find(d, &body.name).is_ok_and(|n| n.name() == body.name) {
        return Err(ApiError::conflict(format!(
            "network with name {} already exists",
            body.name
        )));
    }
    let (name, internal) = (body.name.clone(), body.internal);
    let spec = move |s: Ipv4Net| NetworkSpec {
        name: name.clone(),
        subnet: s,
        gateway,
        internal,
        bridge: bridge.clone(),
    };
    let dd = d.clone();
    let made = tokio::task::spawn_blocking(move || match subnet {
        Some(s) => dd.net.nets.create(&spec(s)).map_err(api_error),
        None => {
            for s in candidate_subnets() {
                match dd.net.nets.create(&spec(s)) {
                    Err(dm_network::Error::Invalid { field: "subnet", .. }) => continue,
                    r => return r.map_err(api_error),
                }
            }
            Err(ApiError::internal(
                "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
            ))
        }
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let rec = made?;
    let m = Meta {
        created: crate::record::now_rfc3339(),
        labels: body.labels.unwrap_or_default(),
    };
    if let Err(e) = save_meta(d, &rec.name, &m) {
        let _ = d.net.nets.remove(&rec.name);
        return Err(e);
    }
    d.emit_network(&rec.id, &rec.name, "create", None);
    Ok(http::json(
        StatusCode::CREATED,
        &json!({"Id": rec.id, "Warning": ""}),
    ))
}

fn remove_net(d: &Daemon, n: &Net) -> ApiResult<()> {
    if PREDEFINED.contains(&n.name()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{} is a pre-defined network and cannot be removed",
                n.name()
            ),
        ));
    }
    d.net.nets.remove(n.name()).map_err(|e| match e {
        dm_network::Error::NetworkInUse(name, _) => ApiError::conflict(format!(
            "error while removing network: network {name} id {} has active endpoints",
            n.id(d)
        )),
        e => api_error(e),
    })?;
    let _ = std::fs::remove_file(meta_path(d, n.name()));
    d.emit_network(&n.id(d), n.name(), "destroy", None);
    Ok(())
}

/// `DELETE /networks/{id}`.
pub async fn remove(d: &Arc<Daemon>, key: &str) -> ApiResult<Response<Body>> {
    let n = find(d, key)?;
    let dd = d.clone();
    tokio::task::spawn_blocking(move || remove_net(&dd, &n))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<EndpointConfig>,
    force: bool,
}

/// `POST /networks/{id}/connect` and `/disconnect`.
pub async fn connect(
    d: &Arc<Daemon>,
    key: &str,
    req: Request<Incoming>,
    connect: bool,
) -> ApiResult<Response<Body>> {
    let body: ConnectBody = http::read_json(req).await?;
    if body.container.is_empty() {
        return Err(ApiError::bad("Container is required"));
    }
    let net = find(d, key)?;
    let id = d.find(&body.container)?;
    // `disconnect -f` exists in docker for endpoints whose container is gone; here the
    // daemon's start-up recovery removes those, so Force changes nothing.
    let _ = body.force;
    let Net::Bridge(r) = net else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "container cannot be {} the {} network",
                if connect {
                    "connected to"
                } else {
                    "disconnected from"
                },
                net.name()
            ),
        ));
    };
    let dd = d.clone();
    tokio::task::spawn_blocking(move || {
        if connect {
            dd.net_connect(&id, &r.name, body.endpoint_config.unwrap_or_default())
        } else {
            dd.net_disconnect(&id, &r.name)
        }
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(http::empty(StatusCode::OK))
}

/// `POST /networks/prune?filters=`: user networks without endpoints.
pub async fn prune(d: &Arc<Daemon>, q: &Query) -> ApiResult<Response<Body>> {
    let fs = filters(q)?;
    let dd = d.clone();
    let deleted = tokio::task::spawn_blocking(move || -> ApiResult<Vec<String>> {
        let used: Vec<String> = dd
            .net
            .nets
            .endpoints()
            .map_err(api_error)?
            .into_iter()
            .map(|e| e.network)
            .collect();
        let mut out = vec![];
        for n in all(&dd)? {
            if PREDEFINED.contains(&n.name())
                || used.iter().any(|u| u == n.name())
                || !matches(&dd, &n, &fs)?
            {
                continue;
            }
            if remove_net(&dd, &n).is_ok() {
                out.push(n.name().to_owned());
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(http::json(
        StatusCode::OK,
        &json!({ "NetworksDeleted": deleted }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_long() {
        assert_eq!(hash64("a").len(), 64);
        assert_eq!(hash64("a"), hash64("a"));
        assert_ne!(hash64("a"), hash64("b"));
        let first: Vec<_> = candidate_subnets().take(2).collect();
        assert_eq!(first[0].to_string(), "172.18.0.0/16");
        assert!(candidate_subnets().all(|s| s.to_string() != "172.30.0.0/16"));
    }
}
