//! containerd's diff gRPC API (`containerd.services.diff.v1.Diff`) over a [`Differ`], served
//! by the same tonic server as the snapshots API (containerd >= 1.7: `[proxy_plugins.X]
//! type = "diff"`).
//!
//! Apply runs on tokio's blocking pool like the snapshot calls. Diff (a layer from two
//! mounts, written to the content store) is not done here: it answers UNIMPLEMENTED, on which
//! containerd's diff service hands it to its next differ.

use crate::differ::{Differ, LayerBlob, APPLIED_MEDIA_TYPE};
use crate::{Error, Mount};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tonic::{Request, Response, Status};

/// Code generated from proto/diff.proto.
#[allow(missing_docs, clippy::all)]
pub mod api {
    tonic::include_proto!("containerd.services.diff.v1");
}

/// The gRPC face of a [`Differ`]; counts what it served.
pub struct DiffService {
    differ: Arc<Differ>,
    applied: AtomicU64,
}

impl DiffService {
    /// Wraps `differ`.
    pub fn new(differ: Differ) -> DiffService {
        DiffService {
            differ: Arc::new(differ),
            applied: AtomicU64::new(0),
        }
    }

    /// The tonic service to add to a server.
    pub fn into_server(self) -> api::diff_server::DiffServer<DiffService> {
        api::diff_server::DiffServer::new(self)
    }
}

fn ours(m: api::Mount) -> Mount {
    Mount {
        kind: m.r#type,
        source: m.source,
        options: m.options,
    }
}

#[tonic::async_trait]
impl api::diff_server::Diff for DiffService {
    async fn apply(
        &self,
        req: Request<api::ApplyRequest>,
    ) -> Result<Response<api::ApplyResponse>, Status> {
        let req = req.into_inner();
        let desc = req
            .diff
            .ok_or_else(|| Status::from(Error::invalid("diff", "missing descriptor")))?;
        let blob = LayerBlob {
            media_type: desc.media_type,
            digest: desc.digest,
            size: desc.size,
        };
        let mounts: Vec<Mount> = req.mounts.into_iter().map(ours).collect();
        let differ = self.differ.clone();
        let what = format!("apply {} ({})", blob.digest, blob.media_type);
        let started = Instant::now();
        let r = tokio::task::spawn_blocking(move || differ.apply(&blob, &mounts))
            .await
            .map_err(|e| Error::Store(format!("{what}: worker failed: {e}")))
            .and_then(|r| r);
        let applied = match r {
            Ok(a) => a,
            Err(e) => {
                match &e {
                    Error::Unsupported(_) => log::debug!("{what}: {e}"),
                    _ => log::warn!("{what}: {e}"),
                }
                return Err(e.into());
            }
        };
        let n = self.applied.fetch_add(1, Ordering::Relaxed) + 1;
        // Tests and operators read this line to see that a layer was applied here, not by
        // containerd's own differ.
        log::info!(
            "{what}: applied into {}: {} entries, {} bytes uncompressed, diff id {}, {} ms \
             (layers applied: {n})",
            applied.target.display(),
            applied.stats.entries,
            applied.size,
            applied.diff_id,
            started.elapsed().as_millis()
        );
        Ok(Response::new(api::ApplyResponse {
            applied: Some(api::Descriptor {
                media_type: APPLIED_MEDIA_TYPE.into(),
                digest: applied.diff_id,
                size: i64::try_from(applied.size).unwrap_or(i64::MAX),
                annotations: Default::default(),
            }),
        }))
    }

    async fn diff(
        &self,
        req: Request<api::DiffRequest>,
    ) -> Result<Response<api::DiffResponse>, Status> {
        log::debug!(
            "diff to {:?}: not done here, containerd's next differ computes it",
            req.get_ref().media_type
        );
        Err(Error::Unsupported("Diff (computing a layer from two mounts)".into()).into())
    }
}
