//! Publishes task events to containerd over its ttrpc socket, reconnecting after a restart.
//!
//! Events are packed by hand with their registered type names rather than through protobuf
//! reflection, whose descriptor tables would stay resident in every shim.

use containerd_shim::protos::events::task::*;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::ttrpc::context::Context;
use containerd_shim::protos::{Client, EventsClient};
use std::sync::Mutex;

/// A task event with the type name containerd's typeurl registry knows it by.
pub trait Event: Message {
    /// The fully qualified protobuf name.
    const TYPE_URL: &'static str;
}

macro_rules! events {
    ($($t:ident),*) => {$(
        impl Event for $t {
            const TYPE_URL: &'static str = concat!("containerd.events.", stringify!($t));
        }
    )*};
}
events!(
    TaskCreate,
    TaskStart,
    TaskExit,
    TaskDelete,
    TaskExecAdded,
    TaskExecStarted,
    TaskPaused,
    TaskResumed,
    TaskOOM
);

/// Packs `ev` into an Any for an Envelope.
pub fn pack<E: Event>(ev: &E) -> Any {
    Any {
        type_url: E::TYPE_URL.into(),
        value: ev.write_to_bytes().unwrap_or_default(),
        ..Default::default()
    }
}

/// An event publisher for one namespace.
pub struct Publisher {
    address: String,
    namespace: String,
    client: Mutex<Option<EventsClient>>,
}

impl Publisher {
    /// A publisher to containerd's ttrpc `address`; connects on first use.
    pub fn new(address: String, namespace: String) -> Publisher {
        Publisher {
            address,
            namespace,
            client: Mutex::new(None),
        }
    }

    fn connect(&self) -> Option<EventsClient> {
        let fd = containerd_shim::util::connect(&self.address).ok()?;
        Client::new(fd).ok().map(EventsClient::new)
    }

    /// Sends `event` on `topic`; on failure reconnects once and retries, then logs and drops it
    /// (containerd re-reads task state after it restarts).
    pub fn publish(&self, topic: &str, event: Any) {
        let req = ForwardRequest {
            envelope: Some(Envelope {
                timestamp: Some(crate::service::now()).into(),
                namespace: self.namespace.clone(),
                topic: topic.to_owned(),
                event: Some(event).into(),
                ..Default::default()
            })
            .into(),
            ..Default::default()
        };
        let mut client = self.client.lock().unwrap();
        for _ in 0..2 {
            if client.is_none() {
                *client = self.connect();
            }
            let Some(c) = client.as_ref() else {
                continue;
            };
            match c.forward(Context::default(), &req) {
                Ok(_) => return,
                Err(e) => {
                    eprintln!("publish {topic}: {e}; reconnecting");
                    *client = None;
                }
            }
        }
        eprintln!("dropped event {topic}");
    }
}
