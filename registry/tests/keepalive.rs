//! A request refused before its body is read (a 401 challenge) keeps its connection usable:
//! clients such as the distribution-spec conformance suite's retry with credentials on the
//! same connection. A body too large to discard closes the connection, saying so.

mod common;

use base64::Engine as _;
use common::{digest, Server};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Reads one response: status, headers (lowercase names) and its Content-Length body.
fn read_response(r: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (status, headers, body)
}

fn put(s: &mut TcpStream, path: &str, auth: Option<&str>, body: &[u8]) {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/octet-stream\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
}

#[test]
fn a_refused_upload_keeps_its_connection_for_the_retry_with_credentials() {
    let dir = dm_testkit::TempDir::new("dm-registry-keepalive");
    let h = dir.path().join("htpasswd");
    std::fs::write(&h, format!("alice:{}\n", bcrypt::hash("pw", 4).unwrap())).unwrap();
    let s = Server::start(&["--htpasswd", h.to_str().unwrap(), "--auth", "basic"]);
    let alice = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:pw")
    );
    let start = |s: &Server| {
        let r = s.req(
            "POST",
            "/v2/ka/blobs/uploads/",
            &[("Authorization", &alice)],
            b"",
        );
        assert_eq!(r.status, 202, "{r:?}");
        r.h("location").to_owned()
    };

    // 300 KiB: more than Go's server would drain, less than ours.
    let blob: Vec<u8> = (0..300u32 << 10).map(|i| (i % 253) as u8).collect();
    let path = format!("{}?digest={}", start(&s), digest(&blob));
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    put(&mut conn, &path, None, &blob);
    let (status, headers, _) = read_response(&mut reader);
    assert_eq!(status, 401);
    assert!(
        !headers
            .iter()
            .any(|(k, v)| k == "connection" && v == "close"),
        "{headers:?}"
    );
    put(&mut conn, &path, Some(&alice), &blob);
    let (status, headers, body) = read_response(&mut reader);
    assert_eq!(
        status,
        201,
        "retry on the same connection: {headers:?} {}",
        String::from_utf8_lossy(&body)
    );
    let r = s.req(
        "GET",
        &format!("/v2/ka/blobs/{}", digest(&blob)),
        &[("Authorization", &alice)],
        b"",
    );
    assert!(r.status == 200 && r.body == blob, "{}", r.status);

    // Beyond the limit the 401 says the connection closes (and it does).
    let big = vec![7u8; 2 << 20];
    let path = format!("{}?digest={}", start(&s), digest(&big));
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    write!(
        conn,
        "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .unwrap();
    let (status, headers, _) = read_response(&mut reader);
    assert_eq!(status, 401);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "connection" && v == "close"),
        "{headers:?}"
    );
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(rest.is_empty(), "nothing after the response");
}
