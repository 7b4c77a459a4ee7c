//! containerd's snapshots gRPC API (`containerd.services.snapshots.v1.Snapshots`) over a
//! [`Snapshotter`], served on a unix socket through the containerd-snapshots crate, with the
//! diff API ([`crate::diff_service`]) on the same server.
//!
//! Every call runs on tokio's blocking pool: snapshot operations fsync and walk directories,
//! and must not stall the single-threaded reactor that serves the other connections.

use crate::diff_service::DiffService;
use crate::differ::Differ;
use crate::{Error, Info, Kind, Mount, Result, Snapshotter};
use containerd_snapshots as cs;
use containerd_snapshots::api::types::Mount as ApiMount;
use containerd_snapshots::tonic;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

/// The gRPC face of a [`Snapshotter`].
pub struct Service {
    inner: Arc<Snapshotter>,
}

impl Service {
    /// Wraps `snapshotter`.
    pub fn new(snapshotter: Arc<Snapshotter>) -> Service {
        Service { inner: snapshotter }
    }

    async fn run<T: Send + 'static>(
        &self,
        what: String,
        f: impl FnOnce(&Snapshotter) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let s = self.inner.clone();
        let r = tokio::task::spawn_blocking(move || f(&s))
            .await
            .map_err(|e| Error::Store(format!("{what}: worker failed: {e}")))?;
        match &r {
            Ok(_) => log::debug!("{what}: ok"),
            Err(e) => log::debug!("{what}: {e}"),
        }
        r
    }
}

/// Serves `snapshotter` on `listener`, and containerd's diff API applying blobs from
/// dm-content root `content_root` onto its snapshots, until `shutdown` resolves; in-flight
/// calls finish first.
pub async fn serve(
    snapshotter: Arc<Snapshotter>,
    content_root: Option<PathBuf>,
    listener: UnixListener,
    shutdown: impl Future<Output = ()>,
) -> std::result::Result<(), tonic::transport::Error> {
    let differ = Differ::new(snapshotter.root(), content_root);
    tonic::transport::Server::builder()
        .add_service(cs::server(Arc::new(Service::new(snapshotter))))
        .add_service(DiffService::new(differ).into_server())
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await
}

fn api_mounts(m: Vec<Mount>) -> Vec<ApiMount> {
    m.into_iter()
        .map(|m| ApiMount {
            r#type: m.kind,
            source: m.source,
            target: String::new(),
            options: m.options,
        })
        .collect()
}

fn api_info(i: Info) -> cs::Info {
    cs::Info {
        kind: match i.kind {
            Kind::View => cs::Kind::View,
            Kind::Active => cs::Kind::Active,
            Kind::Committed => cs::Kind::Committed,
        },
        name: i.name,
        parent: i.parent,
        labels: i.labels,
        created_at: i.created,
        updated_at: i.updated,
    }
}

#[tonic::async_trait]
impl cs::Snapshotter for Service {
    type Error = Error;

    async fn stat(&self, key: String) -> Result<cs::Info> {
        let info = self
            .run(format!("stat {key}"), move |s| s.stat(&key))
            .await?;
        Ok(api_info(info))
    }

    async fn update(&self, info: cs::Info, fieldpaths: Option<Vec<String>>) -> Result<cs::Info> {
        let ours = Info {
            kind: Kind::Active,
            name: info.name,
            parent: info.parent,
            labels: info.labels,
            created: info.created_at,
            updated: info.updated_at,
        };
        let what = format!("update {}", ours.name);
        let info = self
            .run(what, move |s| {
                s.update(&ours, &fieldpaths.unwrap_or_default())
            })
            .await?;
        Ok(api_info(info))
    }

    async fn usage(&self, key: String) -> Result<cs::Usage> {
        let u = self
            .run(format!("usage {key}"), move |s| s.usage(&key))
            .await?;
        Ok(cs::Usage {
            inodes: u.inodes,
            size: u.size,
        })
    }

    async fn mounts(&self, key: String) -> Result<Vec<ApiMount>> {
        let m = self
            .run(format!("mounts {key}"), move |s| s.mounts(&key))
            .await?;
        Ok(api_mounts(m))
    }

    async fn prepare(
        &self,
        key: String,
        parent: String,
        labels: HashMap<String, String>,
    ) -> Result<Vec<ApiMount>> {
        let what = format!("prepare {key} (parent {parent:?})");
        let m = self
            .run(what, move |s| s.prepare(&key, &parent, labels))
            .await?;
        Ok(api_mounts(m))
    }

    async fn view(
        &self,
        key: String,
        parent: String,
        labels: HashMap<String, String>,
    ) -> Result<Vec<ApiMount>> {
        let what = format!("view {key} (parent {parent:?})");
        let m = self
            .run(what, move |s| s.view(&key, &parent, labels))
            .await?;
        Ok(api_mounts(m))
    }

    async fn commit(
        &self,
        name: String,
        key: String,
        labels: HashMap<String, String>,
    ) -> Result<()> {
        let what = format!("commit {key} as {name}");
        self.run(what, move |s| s.commit(&name, &key, labels)).await
    }

    async fn remove(&self, key: String) -> Result<()> {
        self.run(format!("remove {key}"), move |s| s.remove(&key))
            .await
    }

    async fn clear(&self) -> Result<()> {
        let removed = self.run("cleanup".into(), |s| s.cleanup()).await?;
        for p in removed {
            log::info!("cleanup removed orphan {}", p.display());
        }
        Ok(())
    }

    type InfoStream = tokio_stream::Iter<std::vec::IntoIter<Result<cs::Info>>>;

    async fn list(&self, _snapshotter: String, filters: Vec<String>) -> Result<Self::InfoStream> {
        let infos = self
            .run(format!("list {filters:?}"), move |s| s.list(&filters))
            .await?;
        let items: Vec<Result<cs::Info>> = infos.into_iter().map(|i| Ok(api_info(i))).collect();
        Ok(tokio_stream::iter(items))
    }
}
