//! A dm-registry started per test on 127.0.0.1 with a private root, and a minimal HTTP/1.1
//! client speaking to it over plain sockets (so the tests see exactly the bytes on the wire).

#![allow(dead_code)]

use dm_testkit::TempDir;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

/// A running dm-registry; killed and its root removed on drop.
pub struct Server {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// Private root dir (registry data under `root/`, log in `registry.log`).
    pub dir: TempDir,
}

impl Server {
    /// Starts one with extra flags.
    pub fn start(extra: &[&str]) -> Server {
        let dir = TempDir::new("dm-registry-test");
        let (child, addr) = spawn(dir.path(), extra);
        Server { child, addr, dir }
    }

    /// SIGKILLs it (a crash) and starts it again on the same root, at a new port.
    pub fn crash_and_restart(&mut self, extra: &[&str]) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let (child, addr) = spawn(self.dir.path(), extra);
        self.child = child;
        self.addr = addr;
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Sends one request.
    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        request(&self.addr, method, path, headers, body)
    }
}

/// Spawns dm-registry on `<dir>/root`, logging to `<dir>/registry.log`; returns it and its
/// address.
fn spawn(dir: &std::path::Path, extra: &[&str]) -> (Child, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("registry.log"))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dm-registry"))
        .arg("--root")
        .arg(dir.join("root"))
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn dm-registry");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("dm-registry listening on ")
        .unwrap_or_else(|| {
            panic!(
                "dm-registry did not start: {line:?}\n{}",
                std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
            )
        })
        .to_owned();
    (child, addr)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response.
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resp")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field(
                "body",
                &String::from_utf8_lossy(&self.body[..self.body.len().min(2000)]),
            )
            .finish()
    }
}

impl Resp {
    /// A header by lowercase name.
    pub fn h(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The distribution-spec error code of an error body.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Sends one HTTP/1.1 request on a fresh connection and reads the whole response.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let mut has_len = false;
    for (k, v) in headers {
        has_len |= k.eq_ignore_ascii_case("content-length");
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_len && (!body.is_empty() || matches!(method, "PUT" | "POST" | "PATCH")) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse(&raw, method == "HEAD")
}

fn parse(raw: &[u8], head: bool) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if !head
        && headers
            .get("transfer-encoding")
            .is_some_and(|t| t == "chunked")
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

/// sha256 digest text of `data`.
pub fn digest(data: &[u8]) -> String {
    dm_content::Digest::of(data).to_string()
}

/// Pushes a blob monolithically into `repo`.
pub fn push_blob(s: &Server, repo: &str, data: &[u8]) -> String {
    let d = digest(data);
    let r = s.req(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        &[],
        data,
    );
    assert_eq!(r.status, 201, "{r:?}");
    d
}

/// An OCI image manifest over a config and layers already pushed.
pub fn image_manifest(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    let desc = |m: &str, d: &[u8]| serde_json::json!({"mediaType": m, "digest": digest(d), "size": d.len()});
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", config),
        "layers": layers.iter().map(|l| desc("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes()
}
