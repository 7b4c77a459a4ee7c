//! A scripted registry on 127.0.0.1 for failures a real one will not produce on demand: wrong
//! bytes, connections cut mid-blob, odd media types. One request per connection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One scripted answer.
#[derive(Clone, Default)]
pub struct Route {
    /// Content-Type.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
    /// Cut the first full (non-Range) answer after this many body bytes.
    pub cut_first_after: Option<usize>,
    /// Answer with this status line and extra header instead (e.g. a 401 challenge).
    pub status: Option<(&'static str, String)>,
    /// Answer 401 with this `WWW-Authenticate` value unless the request's `Authorization`
    /// is the first string.
    pub auth: Option<(String, String)>,
    /// Answer 307 to this URL (blobs served from object storage elsewhere).
    pub redirect: Option<String>,
    /// Answer 401 unless the request is a POST whose body contains this (an OAuth2 form).
    pub form: Option<String>,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    /// Request lines with their Range header, in order.
    log: Vec<String>,
    cut_done: Vec<String>,
}

/// The fake registry; stops on drop.
pub struct Fake {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Fake {
    /// Starts serving no routes (everything 404).
    pub fn start() -> Fake {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    let st = st.clone();
                    std::thread::spawn(move || serve(c, &st));
                }
            }
        });
        Fake { addr, state, stop }
    }

    /// Serves `route` at `/v2/<path>`.
    pub fn route(&self, path: &str, route: Route) {
        let mut s = self.state.lock().unwrap();
        s.routes.insert(format!("/v2/{path}"), route);
    }

    /// Serves `route` at `path` (any path, e.g. a token realm; queries are ignored).
    pub fn route_abs(&self, path: &str, route: Route) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), route);
    }

    /// The requests so far (`GET /v2/... [range]`).
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn serve(c: TcpStream, state: &Mutex<State>) {
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let mut range = None;
    let mut authorization = None;
    let mut length = 0;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().unwrap_or(0);
        }
        if h.to_ascii_lowercase().starts_with("authorization:") {
            authorization = Some(h["authorization:".len()..].trim().to_owned());
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range = v.trim().trim_end_matches('-').parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length];
    if std::io::Read::read_exact(&mut r, &mut body).is_err() {
        return;
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (route, cut) = {
        let mut s = state.lock().unwrap();
        let mut entry = format!("{method} {path} {range:?} {authorization:?}");
        if !body.is_empty() {
            entry.push_str(&format!(" body={body}"));
        }
        s.log.push(entry);
        let route = s
            .routes
            .get(path.split('?').next().unwrap_or(path))
            .cloned();
        let cut = match &route {
            Some(rt)
                if range.is_none()
                    && rt.cut_first_after.is_some()
                    && !s.cut_done.contains(&path.to_owned()) =>
            {
                s.cut_done.push(path.to_owned());
                rt.cut_first_after
            }
            _ => None,
        };
        (route, cut)
    };
    let mut w = c;
    let Some(route) = route else {
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"not here"}]}"#;
        let _ = write!(w, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let _ = w.write_all(body);
        return;
    };
    let denied = route
        .auth
        .as_ref()
        .filter(|(want, _)| authorization.as_ref() != Some(want));
    let bad_form = route
        .form
        .as_ref()
        .is_some_and(|want| method != "POST" || !body.contains(want.as_str()));
    if bad_form {
        let _ = write!(
            w,
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    if let Some((_, challenge)) = denied {
        let _ = write!(w, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    if let Some(to) = &route.redirect {
        let _ = write!(w, "HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    if let Some((status, header)) = &route.status {
        let _ = write!(
            w,
            "HTTP/1.1 {status}\r\n{header}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    let from = range.unwrap_or(0).min(route.body.len());
    let body = &route.body[from..];
    let status = if range.is_some() {
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        route.content_type,
        body.len()
    );
    if range.is_some() {
        head.push_str(&format!(
            "Content-Range: bytes {from}-{}/{}\r\n",
            route.body.len() - 1,
            route.body.len()
        ));
    }
    head.push_str("\r\n");
    let _ = w.write_all(head.as_bytes());
    if method == "HEAD" {
        return;
    }
    let _ = w.write_all(&body[..cut.unwrap_or(body.len()).min(body.len())]);
}
