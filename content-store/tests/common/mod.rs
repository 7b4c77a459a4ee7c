//! A real gRPC client of containerd's content API over a unix socket, for the service tests.
#![allow(dead_code)]

use dm_content::api::content_client::ContentClient;
use dm_content::api::{WriteAction, WriteContentRequest, WriteContentResponse};
use dm_content::{server, Store};
use dm_testkit::TempDir;
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Status, Streaming};

/// dm-content's service on a private store and socket, with a client; stops on drop.
pub struct Served {
    /// The temp dir holding the root and socket.
    pub dir: TempDir,
    /// The store being served.
    pub store: Store,
    /// A client of the socket.
    pub client: ContentClient<Channel>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Serves a fresh store under a temp dir (inside a tokio runtime).
pub async fn serve() -> Served {
    let dir = TempDir::new("dm-content-svc");
    let store = Store::open(dir.path().join("root")).unwrap();
    let sock = dir.path().join("content.sock");
    let listener = server::bind(&sock).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(store.clone(), listener, async {
        let _ = stopped.await;
    }));
    let client = connect(&sock).await;
    Served {
        dir,
        store,
        client,
        _stop: stop,
    }
}

/// A content client on the unix socket at `path`.
pub async fn connect(path: &Path) -> ContentClient<Channel> {
    let path: PathBuf = path.to_owned();
    let channel = Endpoint::try_from("http://[::]:50051")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .expect("connect to content socket");
    ContentClient::new(channel)
}

/// Polls until `path` accepts connections (bounded).
pub fn wait_for_socket(path: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    while std::os::unix::net::UnixStream::connect(path).is_err() {
        assert!(
            Instant::now() < deadline,
            "{} never accepted a connection",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One Write stream, driven message by message.
pub struct WriteSession {
    tx: mpsc::Sender<WriteContentRequest>,
    rx: Streaming<WriteContentResponse>,
}

impl WriteSession {
    /// Opens the stream and sends the first (Stat) message for `reference`.
    pub async fn open(
        client: &mut ContentClient<Channel>,
        reference: &str,
        total: i64,
        expected: &str,
    ) -> Result<(WriteSession, WriteContentResponse), Status> {
        let (tx, rx) = mpsc::channel(4);
        tx.send(WriteContentRequest {
            action: WriteAction::Stat as i32,
            r#ref: reference.into(),
            total,
            expected: expected.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let mut rx = client.write(ReceiverStream::new(rx)).await?.into_inner();
        let first = rx.message().await?.expect("stat response");
        Ok((WriteSession { tx, rx }, first))
    }

    /// Sends one request and waits for its response.
    pub async fn send(&mut self, req: WriteContentRequest) -> Result<WriteContentResponse, Status> {
        self.tx.send(req).await.expect("write stream closed");
        Ok(self.rx.message().await?.expect("a response"))
    }

    /// Writes `data` at `offset`.
    pub async fn write(
        &mut self,
        offset: i64,
        data: &[u8],
    ) -> Result<WriteContentResponse, Status> {
        self.send(WriteContentRequest {
            action: WriteAction::Write as i32,
            offset,
            data: data.to_vec().into(),
            ..Default::default()
        })
        .await
    }

    /// Commits with the given expectations.
    pub async fn commit(
        &mut self,
        offset: i64,
        total: i64,
        expected: &str,
        labels: &[(&str, &str)],
    ) -> Result<WriteContentResponse, Status> {
        self.send(WriteContentRequest {
            action: WriteAction::Commit as i32,
            offset,
            total,
            expected: expected.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        })
        .await
    }
}
