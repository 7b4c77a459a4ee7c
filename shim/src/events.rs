//! Publishes task events to containerd over its ttrpc socket, reconnecting after a restart.

use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::protos::ttrpc::context::Context;
use containerd_shim::publisher::RemotePublisher;
use std::sync::Mutex;

/// An event publisher for one namespace.
pub struct Publisher {
    address: String,
    namespace: String,
    client: Mutex<Option<RemotePublisher>>,
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

    /// Sends `event` on `topic`; on failure reconnects once and retries, then logs and drops it
    /// (containerd re-reads task state after it restarts).
    pub fn publish(&self, topic: &str, event: Box<dyn MessageDyn>) {
        let mut client = self.client.lock().unwrap();
        let bytes = event.write_to_bytes_dyn().unwrap_or_default();
        for _ in 0..2 {
            if client.is_none() {
                *client = RemotePublisher::new(&self.address).ok();
            }
            let Some(c) = client.as_ref() else {
                continue;
            };
            let ev = event.clone_box();
            match c.publish(Context::default(), topic, &self.namespace, ev) {
                Ok(()) => return,
                Err(e) => {
                    eprintln!("publish {topic}: {e}; reconnecting");
                    *client = None;
                }
            }
        }
        eprintln!("dropped event {topic} ({} bytes)", bytes.len());
    }
}
