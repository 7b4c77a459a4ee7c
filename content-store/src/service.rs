//! containerd's content service on top of [`Store`]. The handlers only translate: parse
//! requests, run the store's blocking file work on tokio's blocking pool, map errors to the
//! gRPC codes containerd's errdefs use (so a containerd client sees NotFound, AlreadyExists,
//! Unavailable for a locked ref, FailedPrecondition for a size or digest mismatch, DataLoss for
//! a corrupt blob).

use crate::api::content_server::Content;
use crate::api::{
    AbortRequest, DeleteContentRequest, InfoRequest, InfoResponse, ListContentRequest,
    ListContentResponse, ListStatusesRequest, ListStatusesResponse, ReadContentRequest,
    ReadContentResponse, StatusRequest, StatusResponse, UpdateRequest, UpdateResponse, WriteAction,
    WriteContentRequest, WriteContentResponse,
};
use crate::error::{Error, Kind};
use crate::{api, Digest, Info, IngestStatus, Store};
use std::pin::Pin;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status, Streaming};

/// Bytes per Read response message (containerd's own server uses the same).
const READ_CHUNK: usize = 1 << 20;
/// Largest range read served on the async thread (see `read`).
const INLINE_READ: u64 = 256 << 10;
/// Infos per List response message.
const LIST_BATCH: usize = 100;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The gRPC content service.
#[derive(Clone)]
pub struct ContentService {
    store: Store,
}

impl ContentService {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        ContentService { store }
    }
}

/// The gRPC status containerd would send for `e`.
pub fn to_status(e: Error) -> Status {
    let code = match e.kind() {
        Kind::InvalidArgument => Code::InvalidArgument,
        Kind::NotFound => Code::NotFound,
        Kind::AlreadyExists => Code::AlreadyExists,
        Kind::FailedPrecondition => Code::FailedPrecondition,
        Kind::Unavailable => Code::Unavailable,
        Kind::OutOfRange => Code::OutOfRange,
        Kind::DataLoss => Code::DataLoss,
        Kind::Internal => Code::Internal,
    };
    if code == Code::Internal {
        log::error!("{e}");
    }
    Status::new(code, e.to_string())
}

fn digest(s: &str) -> Result<Digest, Status> {
    s.parse().map_err(to_status)
}

fn positive(v: i64) -> Option<u64> {
    u64::try_from(v).ok().filter(|v| *v > 0)
}

/// Runs blocking store work off the async thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("worker failed: {e}")))?
        .map_err(to_status)
}

fn info_msg(i: Info) -> api::Info {
    api::Info {
        digest: i.digest.to_string(),
        size: i.size as i64,
        created_at: Some(i.created_at.into()),
        updated_at: Some(i.updated_at.into()),
        labels: i.labels,
    }
}

fn status_msg(s: IngestStatus) -> api::Status {
    api::Status {
        started_at: Some(s.started_at.into()),
        updated_at: Some(s.updated_at.into()),
        r#ref: s.reference,
        offset: s.offset as i64,
        total: s.total.unwrap_or(0) as i64,
        expected: s.expected.map(|d| d.to_string()).unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl Content for ContentService {
    async fn info(&self, req: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let d = digest(&req.into_inner().digest)?;
        // Two stats and a small read at most: cheaper here than on the blocking pool.
        let info = self.store.info(&d).map_err(to_status)?;
        Ok(Response::new(InfoResponse {
            info: Some(info_msg(info)),
        }))
    }

    async fn update(
        &self,
        req: Request<UpdateRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        let req = req.into_inner();
        let info = req
            .info
            .ok_or_else(|| Status::invalid_argument("update request needs info"))?;
        let d = digest(&info.digest)?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let store = self.store.clone();
        let updated = blocking(move || store.update(&d, &info.labels, &paths)).await?;
        Ok(Response::new(UpdateResponse {
            info: Some(info_msg(updated)),
        }))
    }

    type ListStream = BoxStream<ListContentResponse>;

    async fn list(
        &self,
        req: Request<ListContentRequest>,
    ) -> Result<Response<Self::ListStream>, Status> {
        let filters = req.into_inner().filters;
        let store = self.store.clone();
        let infos = blocking(move || store.list(&filters)).await?;
        let mut msgs = Vec::new();
        let mut it = infos.into_iter().map(info_msg).peekable();
        while it.peek().is_some() {
            let info = it.by_ref().take(LIST_BATCH).collect();
            msgs.push(Ok(ListContentResponse { info }));
        }
        Ok(Response::new(Box::pin(tokio_stream::iter(msgs))))
    }

    async fn delete(&self, req: Request<DeleteContentRequest>) -> Result<Response<()>, Status> {
        let d = digest(&req.into_inner().digest)?;
        let store = self.store.clone();
        blocking(move || store.delete(&d)).await?;
        Ok(Response::new(()))
    }

    type ReadStream = BoxStream<ReadContentResponse>;

    async fn read(
        &self,
        req: Request<ReadContentRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let req = req.into_inner();
        let d = digest(&req.digest)?;
        let offset = u64::try_from(req.offset).unwrap_or(0);
        let len = positive(req.size);
        // Not-found and out-of-range fail the call itself rather than its stream.
        let blob = self.store.open_blob(&d).map_err(to_status)?;
        let size = blob.size();
        if offset > size {
            return Err(to_status(Error::ReadPastEnd { size }));
        }
        let end = len.map_or(size, |l| offset.saturating_add(l).min(size));
        if end < size && end - offset <= INLINE_READ {
            // containerd reads layers as many small ranges, one call each; a range short of
            // the end is never verified and costs one page-cache copy, so it is served here
            // rather than paying for hand-offs to the blocking pool.
            let mut msgs = Vec::new();
            self.store
                .read_blob(
                    &blob,
                    offset,
                    Some(end - offset),
                    READ_CHUNK,
                    |offset, data| {
                        msgs.push(Ok(ReadContentResponse {
                            offset: offset as i64,
                            data: data.into(),
                        }));
                        true
                    },
                )
                .map_err(to_status)?;
            return Ok(Response::new(Box::pin(tokio_stream::iter(msgs))));
        }
        let (tx, rx) = mpsc::channel(2);
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let res = store.read_blob(&blob, offset, len, READ_CHUNK, |offset, data| {
                let msg = ReadContentResponse {
                    offset: offset as i64,
                    data: data.into(),
                };
                tx.blocking_send(Ok(msg)).is_ok()
            });
            if let Err(e) = res {
                let _ = tx.blocking_send(Err(to_status(e)));
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn status(
        &self,
        req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let r = req.into_inner().r#ref;
        let store = self.store.clone();
        let st = blocking(move || store.status(&r)).await?;
        Ok(Response::new(StatusResponse {
            status: Some(status_msg(st)),
        }))
    }

    async fn list_statuses(
        &self,
        req: Request<ListStatusesRequest>,
    ) -> Result<Response<ListStatusesResponse>, Status> {
        let filters = req.into_inner().filters;
        let store = self.store.clone();
        let sts = blocking(move || store.list_statuses(&filters)).await?;
        Ok(Response::new(ListStatusesResponse {
            statuses: sts.into_iter().map(status_msg).collect(),
        }))
    }

    type WriteStream = BoxStream<WriteContentResponse>;

    async fn write(
        &self,
        req: Request<Streaming<WriteContentRequest>>,
    ) -> Result<Response<Self::WriteStream>, Status> {
        let inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(2);
        let store = self.store.clone();
        // One blocking thread per session: file writes and the commit's fsyncs stay off the
        // async thread, and the session reads as straight-line code. Messages are assembled
        // on the async thread and handed over whole: polling the stream from the blocking
        // thread woke it once per 16 KiB HTTP/2 frame (~64 wake-ups per 1 MiB message).
        let mut inbound = forward(inbound);
        tokio::task::spawn_blocking(move || {
            if let Err(st) = write_session(&store, &mut inbound, &tx) {
                if st.code() != Code::AlreadyExists {
                    log::warn!("write failed: {}", st.message());
                }
                let _ = tx.blocking_send(Err(st));
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn abort(&self, req: Request<AbortRequest>) -> Result<Response<()>, Status> {
        let r = req.into_inner().r#ref;
        let store = self.store.clone();
        blocking(move || store.abort(&r)).await?;
        Ok(Response::new(()))
    }
}

/// Whole inbound Write messages (or the stream's error), as the blocking session reads them.
type Inbound = mpsc::Receiver<Result<WriteContentRequest, Status>>;

/// Reads `stream` on the async thread into a channel; stops when the stream ends, fails or
/// the session stops listening.
fn forward(mut stream: Streaming<WriteContentRequest>) -> Inbound {
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        loop {
            let msg = match stream.message().await {
                Ok(Some(m)) => Ok(m),
                Ok(None) => return,
                Err(e) => Err(e),
            };
            let failed = msg.is_err();
            if tx.send(msg).await.is_err() || failed {
                return;
            }
        }
    });
    rx
}

/// One Write stream: the first message names the ref and takes its lock; every message gets
/// one response; a commit ends the session.
fn write_session(
    store: &Store,
    inbound: &mut Inbound,
    tx: &mpsc::Sender<Result<WriteContentResponse, Status>>,
) -> Result<(), Status> {
    let Some(mut req) = inbound.blocking_recv().transpose()? else {
        return Ok(());
    };
    if req.r#ref.is_empty() {
        return Err(Status::invalid_argument(
            "first message must have a reference",
        ));
    }
    let mut expected = match req.expected.as_str() {
        "" => None,
        e => Some(digest(e)?),
    };
    let reference = req.r#ref.clone();
    let mut w = store
        .writer(&reference, positive(req.total), expected.clone())
        .map_err(to_status)?;
    log::debug!("write {reference:?} started at offset {}", w.offset());
    loop {
        w.set_total(positive(req.total));
        if !req.expected.is_empty() {
            expected = Some(digest(&req.expected)?);
        }
        let action = WriteAction::try_from(req.action).map_err(|_| {
            Status::invalid_argument(format!("unknown write action {}", req.action))
        })?;
        let mut resp = WriteContentResponse {
            action: req.action,
            offset: w.offset() as i64,
            ..Default::default()
        };
        if action != WriteAction::Stat {
            if req.offset > 0 && req.offset as u64 != w.offset() {
                return Err(to_status(Error::BadOffset {
                    requested: req.offset as u64,
                    current: w.offset(),
                }));
            }
            if req.offset == 0 && w.offset() > 0 {
                w.truncate(0).map_err(to_status)?;
            }
            if !req.data.is_empty() {
                w.write(&req.data).map_err(to_status)?;
            }
            resp.offset = w.offset() as i64;
        }
        let st = w.status();
        resp.started_at = Some(st.started_at.into());
        resp.updated_at = Some(st.updated_at.into());
        resp.total = st.total.unwrap_or(0) as i64;
        if action == WriteAction::Commit {
            let c = w
                .commit(positive(req.total), expected.clone(), &req.labels)
                .map_err(to_status)?;
            if !c.created {
                return Err(to_status(Error::AlreadyExists(c.digest)));
            }
            log::debug!(
                "committed {} ({} bytes) from {reference:?}",
                c.digest,
                c.size
            );
            resp.digest = c.digest.to_string();
            let _ = tx.blocking_send(Ok(resp));
            return Ok(());
        }
        resp.digest = w.digest().to_string();
        if tx.blocking_send(Ok(resp)).is_err() {
            return Ok(());
        }
        match inbound.blocking_recv().transpose()? {
            Some(next) => req = next,
            None => return Ok(()),
        }
    }
}
