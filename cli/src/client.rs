//! A blocking Engine API client over the daemon's unix socket.
//!
//! Why not hyper's client: a CLI makes a handful of sequential requests and then copies one
//! hijacked stream; a runtime, a connection pool and an async stack would cost more start-up
//! time and binary size than the ~300 lines of HTTP/1.1 here (sized and chunked bodies, the
//! 101 upgrade), and the hijacked socket stays a plain fd the terminal loop can poll.

use crate::error::{ClientError, Result};
use crate::wire::{self, Body, Head};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// The daemon's default socket.
pub const DEFAULT_SOCKET: &str = "/run/dockermind/dockermind.sock";

/// The API version requested (the newest dockermindd serves).
pub const API_VERSION: &str = "1.45";

/// A connection factory for one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

/// A response whose body has not been read yet.
pub struct Response {
    /// Status and headers.
    pub head: Head,
    /// The body.
    pub body: Body<UnixStream>,
}

/// A connection handed over to a raw stream (attach, exec start).
pub struct Hijacked {
    /// The socket.
    pub stream: UnixStream,
    /// Stream bytes that arrived with the response head.
    pub pre: Vec<u8>,
}

impl Client {
    /// A client for the daemon listening on `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
        }
    }

    /// A client for `host` (`unix:///path`), else `$DOCKERMIND_HOST`, else the default socket.
    pub fn from_host(host: Option<&str>) -> std::result::Result<Client, String> {
        let env = std::env::var("DOCKERMIND_HOST").ok();
        let h = host
            .map(str::to_owned)
            .or(env)
            .unwrap_or_else(|| format!("unix://{DEFAULT_SOCKET}"));
        match h.strip_prefix("unix://") {
            Some(p) if p.starts_with('/') => Ok(Client::new(p)),
            _ => Err(format!(
                "--host {h:?}: only unix:///absolute/path is supported"
            )),
        }
    }

    /// The socket this client connects to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn connect(&self) -> Result<UnixStream> {
        UnixStream::connect(&self.socket).map_err(|source| ClientError::Connect {
            socket: self.socket.clone(),
            source,
        })
    }

    /// Sends a request and reads the response head; an error status becomes
    /// [`ClientError::Api`] with the daemon's message.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response> {
        let mut s = self.connect()?;
        let full = format!("/v{API_VERSION}{path}");
        let mut req = wire::request_head(method, &full, headers, body.map(<[u8]>::len));
        if let Some(b) = body {
            req.extend_from_slice(b);
        }
        s.write_all(&req)?;
        let (head, rest) = wire::read_head(&mut s)?;
        let body = Body::new(&head, rest, s);
        if head.status >= 400 {
            // A HEAD answer has headers only: its Content-Length announces no body to read.
            if method == "HEAD" {
                return Err(ClientError::Api {
                    status: head.status,
                    message: format!("status {}", head.status),
                });
            }
            return Err(api_error(head.status, body));
        }
        Ok(Response { head, body })
    }

    /// Sends a request with an optional JSON body and decodes the JSON answer.
    pub fn json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T> {
        let bytes = body.map(serde_json::to_vec).transpose()?;
        let headers: &[(&str, &str)] = if bytes.is_some() {
            &[("Content-Type", "application/json")]
        } else {
            &[]
        };
        let r = self.send(method, path, headers, bytes.as_deref())?;
        let b = r.body.into_bytes()?;
        Ok(serde_json::from_slice(if b.is_empty() {
            b"null"
        } else {
            &b
        })?)
    }

    /// Sends a request whose answer has no interesting body; returns the status.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<u16> {
        let bytes = body.map(serde_json::to_vec).transpose()?;
        let headers: &[(&str, &str)] = if bytes.is_some() {
            &[("Content-Type", "application/json")]
        } else {
            &[]
        };
        let r = self.send(method, path, headers, bytes.as_deref())?;
        let status = r.head.status;
        r.body.into_bytes()?;
        Ok(status)
    }

    /// Sends a request asking for the connection to be upgraded to a raw stream.
    pub fn hijack(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Hijacked> {
        let bytes = body.map(serde_json::to_vec).transpose()?;
        let mut headers = vec![("Connection", "Upgrade"), ("Upgrade", "tcp")];
        if bytes.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let r = self.send(method, path, &headers, bytes.as_deref())?;
        if !matches!(r.head.status, 101 | 200) {
            return Err(ClientError::Protocol(format!(
                "expected the connection to be upgraded, got status {}",
                r.head.status
            )));
        }
        let (pre, stream) = r.body.into_prefixed().into_parts();
        Ok(Hijacked { stream, pre })
    }

    /// Reads a stream of JSON messages (pull, push, build, events), calling `f` on each; a
    /// message with `error` ends the stream with [`ClientError::Stream`].
    pub fn messages(body: impl Read, mut f: impl FnMut(&Value)) -> Result<()> {
        for v in serde_json::Deserializer::from_reader(body).into_iter::<Value>() {
            let v = v?;
            if let Some(e) = v.get("error").and_then(Value::as_str) {
                return Err(ClientError::Stream(e.to_owned()));
            }
            f(&v);
        }
        Ok(())
    }

    /// `GET /_ping`: whether the daemon answers.
    pub fn ping(&self) -> Result<()> {
        self.call("GET", "/_ping", None).map(|_| ())
    }

    /// `GET /containers/json`.
    pub fn containers(&self, all: bool) -> Result<Vec<Value>> {
        self.json("GET", &format!("/containers/json?all={}", all as u8), None)
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect_container(&self, id: &str) -> Result<Value> {
        self.json("GET", &format!("/containers/{}/json", enc(id)), None)
    }

    /// `GET /images/json`.
    pub fn images(&self) -> Result<Vec<Value>> {
        self.json("GET", "/images/json", None)
    }
}

fn api_error(status: u16, body: Body<UnixStream>) -> ClientError {
    let bytes = body.into_bytes().unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
    let message = if message.is_empty() {
        format!("status {status}")
    } else {
        message
    };
    ClientError::Api { status, message }
}

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from pairs (`?a=1&b=x`), values percent-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(
            query(&[("fromImage", "127.0.0.1:5000/busybox"), ("tag", "latest")]),
            "?fromImage=127.0.0.1%3A5000%2Fbusybox&tag=latest"
        );
        assert_eq!(query(&[]), "");
    }

    #[test]
    fn a_missing_socket_names_it() {
        let e = Client::new("/nonexistent/dm.sock").ping().unwrap_err();
        assert!(e.to_string().contains("unix:///nonexistent/dm.sock"), "{e}");
    }

    #[test]
    fn hosts_other_than_unix_paths_are_refused() {
        assert!(Client::from_host(Some("tcp://1.2.3.4:2375")).is_err());
        assert_eq!(
            Client::from_host(Some("unix:///x.sock")).unwrap().socket(),
            Path::new("/x.sock")
        );
    }
}
