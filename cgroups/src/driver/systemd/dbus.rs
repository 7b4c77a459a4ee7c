//! A minimal, blocking D-Bus client: EXTERNAL authentication, `Hello`, method calls and
//! signals, with marshalling for the few types systemd's manager API needs.
//!
//! Why not a crate: dm-runc's create path is single-threaded and forks once (see
//! ARCHITECTURE.md). zbus's blocking API runs an async executor on a thread of its own, which
//! must not exist across the clone; the `dbus` crate links libdbus, which the static build
//! cannot. systemd's calls need a handful of types, so the wire format is spoken here on a
//! blocking `UnixStream` with read timeouts: no thread, no async runtime.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Errors talking D-Bus.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The peer refused authentication or spoke something else.
    #[error("D-Bus protocol: {0}")]
    Protocol(String),
    /// The peer answered a call with an error.
    #[error("{name}: {message}")]
    Remote {
        /// The D-Bus error name (`org.freedesktop.systemd1.NoSuchUnit`).
        name: String,
        /// Its message.
        message: String,
    },
    /// Nothing arrived in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// A D-Bus value of one complete type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `y`
    Byte(u8),
    /// `b`
    Bool(bool),
    /// `i`
    I32(i32),
    /// `u`
    U32(u32),
    /// `x`
    I64(i64),
    /// `t`
    U64(u64),
    /// `s`
    Str(String),
    /// `o`
    Path(String),
    /// `g`
    Sig(String),
    /// `a<elem>`: the element signature (needed for empty arrays) and the elements.
    Array(String, Vec<Value>),
    /// `(...)`
    Struct(Vec<Value>),
    /// `v`
    Variant(Box<Value>),
    /// `{kv}`, only inside arrays.
    Entry(Box<Value>, Box<Value>),
}

impl Value {
    /// The value's type signature.
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Sig(_) => "g".into(),
            Value::Array(e, _) => format!("a{e}"),
            Value::Struct(v) => format!("({})", v.iter().map(Value::signature).collect::<String>()),
            Value::Variant(_) => "v".into(),
            Value::Entry(k, v) => format!("{{{}{}}}", k.signature(), v.signature()),
        }
    }

    /// A string or object path's text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Sig(s) => Some(s),
            _ => None,
        }
    }

    /// An unsigned integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Byte(n) => Some(u64::from(*n)),
            Value::U32(n) => Some(u64::from(*n)),
            Value::U64(n) => Some(*n),
            _ => None,
        }
    }

    /// The contents of a variant (itself otherwise).
    pub fn inner(&self) -> &Value {
        match self {
            Value::Variant(v) => v.inner(),
            v => v,
        }
    }
}

/// A `(sv)` pair, the shape of systemd's unit properties.
pub fn prop(name: &str, v: Value) -> Value {
    Value::Struct(vec![Value::Str(name.into()), Value::Variant(Box::new(v))])
}

fn align_of(code: u8) -> usize {
    match code {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'x' | b't' | b'd' | b'(' | b'{' => 8,
        _ => 4,
    }
}

fn pad(buf: &mut Vec<u8>, align: usize) {
    while !buf.len().is_multiple_of(align) {
        buf.push(0);
    }
}

/// Appends `v` to `buf`, aligned relative to the buffer's start (bodies and headers both start
/// at 8-aligned offsets of a message, so that is the message's alignment too).
pub fn marshal(buf: &mut Vec<u8>, v: &Value) {
    let sig = v.signature();
    pad(buf, align_of(sig.as_bytes()[0]));
    match v {
        Value::Byte(n) => buf.push(*n),
        Value::Bool(b) => buf.extend_from_slice(&u32::from(*b).to_le_bytes()),
        Value::I32(n) => buf.extend_from_slice(&n.to_le_bytes()),
        Value::U32(n) => buf.extend_from_slice(&n.to_le_bytes()),
        Value::I64(n) => buf.extend_from_slice(&n.to_le_bytes()),
        Value::U64(n) => buf.extend_from_slice(&n.to_le_bytes()),
        Value::Str(s) | Value::Path(s) => {
            buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
            buf.push(0);
        }
        Value::Sig(s) => {
            buf.push(s.len() as u8);
            buf.extend_from_slice(s.as_bytes());
            buf.push(0);
        }
        Value::Array(elem, items) => {
            let len_at = buf.len();
            buf.extend_from_slice(&[0; 4]);
            // The length counts from the first element, after its alignment padding.
            pad(buf, align_of(elem.as_bytes()[0]));
            let start = buf.len();
            for i in items {
                marshal(buf, i);
            }
            let len = (buf.len() - start) as u32;
            buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        }
        Value::Struct(items) => items.iter().for_each(|i| marshal(buf, i)),
        Value::Variant(inner) => {
            marshal(buf, &Value::Sig(inner.signature()));
            marshal(buf, inner);
        }
        Value::Entry(k, val) => {
            marshal(buf, k);
            marshal(buf, val);
        }
    }
}

/// Length of the first complete type in `sig`.
fn first_type_len(sig: &[u8]) -> Result<usize> {
    let bad = || Error::Protocol(format!("bad signature {:?}", String::from_utf8_lossy(sig)));
    match sig.first().ok_or_else(bad)? {
        b'a' => Ok(1 + first_type_len(&sig[1..])?),
        open @ (b'(' | b'{') => {
            let close = if *open == b'(' { b')' } else { b'}' };
            let mut i = 1;
            while sig.get(i).ok_or_else(bad)? != &close {
                i += first_type_len(&sig[i..])?;
            }
            Ok(i + 1)
        }
        b'y' | b'b' | b'n' | b'q' | b'i' | b'u' | b'x' | b't' | b'd' | b's' | b'o' | b'g'
        | b'v' | b'h' => Ok(1),
        _ => Err(bad()),
    }
}

/// Splits a signature into its complete types.
pub fn split_signature(sig: &str) -> Result<Vec<String>> {
    let b = sig.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let n = first_type_len(&b[i..])?;
        out.push(sig[i..i + n].to_string());
        i += n;
    }
    Ok(out)
}

/// Reads values from a message buffer; offsets are relative to the buffer's start.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at offset `pos` of `buf`.
    pub fn new(buf: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { buf, pos }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| Error::Protocol("message truncated".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn align(&mut self, a: usize) -> Result<()> {
        let n = (a - self.pos % a) % a;
        self.take(n).map(|_| ())
    }

    fn u32(&mut self) -> Result<u32> {
        self.align(4)?;
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn text(&mut self, len: usize) -> Result<String> {
        let s = self.take(len + 1)?;
        String::from_utf8(s[..len].to_vec()).map_err(|_| Error::Protocol("string not UTF-8".into()))
    }

    /// Reads one value of complete type `sig`.
    pub fn read(&mut self, sig: &str) -> Result<Value> {
        let b = sig.as_bytes();
        if b.is_empty() {
            return Err(Error::Protocol("empty type signature".into()));
        }
        self.align(align_of(b[0]))?;
        Ok(match b[0] {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => Value::Bool(self.u32()? != 0),
            b'i' => Value::I32(self.u32()? as i32),
            b'u' | b'h' => Value::U32(self.u32()?),
            b'x' | b't' => {
                let n = u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"));
                if b[0] == b'x' {
                    Value::I64(n as i64)
                } else {
                    Value::U64(n)
                }
            }
            b's' | b'o' => {
                let len = self.u32()? as usize;
                let s = self.text(len)?;
                if b[0] == b's' {
                    Value::Str(s)
                } else {
                    Value::Path(s)
                }
            }
            b'g' => {
                let len = self.take(1)?[0] as usize;
                Value::Sig(self.text(len)?)
            }
            b'v' => {
                let Value::Sig(s) = self.read("g")? else {
                    unreachable!()
                };
                split_signature(&s)?;
                Value::Variant(Box::new(self.read(&s)?))
            }
            b'a' => {
                let len = self.u32()? as usize;
                let elem = &sig[1..];
                self.align(align_of(elem.as_bytes()[0]))?;
                let end = self.pos + len;
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.read(elem)?);
                }
                Value::Array(elem.to_string(), items)
            }
            b'(' | b'{' => {
                let inner = &sig[1..sig.len() - 1];
                let mut items = Vec::new();
                for t in split_signature(inner)? {
                    items.push(self.read(&t)?);
                }
                if b[0] == b'{' && items.len() == 2 {
                    let v = items.pop().expect("two");
                    Value::Entry(Box::new(items.pop().expect("two")), Box::new(v))
                } else {
                    Value::Struct(items)
                }
            }
            c => {
                return Err(Error::Protocol(format!(
                    "type {:?} not supported",
                    c as char
                )))
            }
        })
    }
}

/// A message's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A method call.
    Call = 1,
    /// A method's reply.
    Return = 2,
    /// A method's error reply.
    Error = 3,
    /// A signal.
    Signal = 4,
}

/// One D-Bus message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The message type.
    pub kind: Kind,
    /// Its serial (set when sent).
    pub serial: u32,
    /// Object path.
    pub path: Option<String>,
    /// Interface.
    pub interface: Option<String>,
    /// Method or signal name.
    pub member: Option<String>,
    /// Error name of an error reply.
    pub error_name: Option<String>,
    /// The call a reply answers.
    pub reply_serial: Option<u32>,
    /// Addressee.
    pub destination: Option<String>,
    /// Sender (filled in by the bus).
    pub sender: Option<String>,
    /// Arguments.
    pub body: Vec<Value>,
}

impl Message {
    /// A method call.
    pub fn call(dest: &str, path: &str, iface: &str, member: &str, body: Vec<Value>) -> Message {
        Message {
            kind: Kind::Call,
            serial: 0,
            path: Some(path.into()),
            interface: Some(iface.into()),
            member: Some(member.into()),
            error_name: None,
            reply_serial: None,
            destination: Some(dest.into()),
            sender: None,
            body,
        }
    }

    /// A reply to `to` (an error reply when `error` names one).
    pub fn reply(to: &Message, error: Option<&str>, body: Vec<Value>) -> Message {
        Message {
            kind: if error.is_some() {
                Kind::Error
            } else {
                Kind::Return
            },
            serial: 0,
            path: None,
            interface: None,
            member: None,
            error_name: error.map(str::to_string),
            reply_serial: Some(to.serial),
            destination: to.sender.clone(),
            sender: None,
            body,
        }
    }

    /// A broadcast signal.
    pub fn signal(path: &str, iface: &str, member: &str, body: Vec<Value>) -> Message {
        Message {
            kind: Kind::Signal,
            destination: None,
            ..Message::call("", path, iface, member, body)
        }
    }

    /// The wire form with serial `serial`.
    pub fn encode(&self, serial: u32) -> Vec<u8> {
        let mut body = Vec::new();
        for v in &self.body {
            marshal(&mut body, v);
        }
        let sig: String = self.body.iter().map(Value::signature).collect();
        let mut fields = Vec::new();
        let mut field = |code: u8, v: Value| {
            fields.push(Value::Struct(vec![
                Value::Byte(code),
                Value::Variant(Box::new(v)),
            ]))
        };
        let strs = [
            (1, &self.path, true),
            (2, &self.interface, false),
            (3, &self.member, false),
            (4, &self.error_name, false),
            (6, &self.destination, false),
            (7, &self.sender, false),
        ];
        for (code, v, is_path) in strs {
            if let Some(s) = v {
                field(
                    code,
                    if is_path {
                        Value::Path(s.clone())
                    } else {
                        Value::Str(s.clone())
                    },
                );
            }
        }
        if let Some(r) = self.reply_serial {
            field(5, Value::U32(r));
        }
        if !sig.is_empty() {
            field(8, Value::Sig(sig));
        }
        let mut out = vec![b'l', self.kind as u8, 0, 1];
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&serial.to_le_bytes());
        marshal(&mut out, &Value::Array("(yv)".into(), fields));
        pad(&mut out, 8);
        out.extend_from_slice(&body);
        out
    }

    /// Parses one whole message (as [`read_message`] returns it).
    pub fn decode(buf: &[u8]) -> Result<Message> {
        if buf.len() < 16 || buf[0] != b'l' {
            return Err(Error::Protocol(
                "only little-endian messages are supported".into(),
            ));
        }
        let kind = match buf[1] {
            1 => Kind::Call,
            2 => Kind::Return,
            3 => Kind::Error,
            4 => Kind::Signal,
            k => return Err(Error::Protocol(format!("unknown message type {k}"))),
        };
        let body_len = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes")) as usize;
        let serial = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
        let mut r = Reader::new(buf, 12);
        let Value::Array(_, fields) = r.read("a(yv)")? else {
            unreachable!()
        };
        r.align(8)?;
        let body_at = r.pos;
        let mut m = Message {
            kind,
            serial,
            ..Message::call("", "", "", "", vec![])
        };
        m.destination = None;
        m.path = None;
        m.interface = None;
        m.member = None;
        let mut sig = String::new();
        for f in fields {
            let Value::Struct(kv) = f else { continue };
            let (Some(Value::Byte(code)), Some(v)) = (kv.first(), kv.get(1)) else {
                continue;
            };
            let v = v.inner();
            let s = v.as_str().map(str::to_string);
            match code {
                1 => m.path = s,
                2 => m.interface = s,
                3 => m.member = s,
                4 => m.error_name = s,
                5 => m.reply_serial = v.as_u64().map(|n| n as u32),
                6 => m.destination = s,
                7 => m.sender = s,
                8 => sig = s.unwrap_or_default(),
                _ => {}
            }
        }
        let mut r = Reader::new(
            &buf[body_at..body_at + body_len.min(buf.len() - body_at)],
            0,
        );
        for t in split_signature(&sig)? {
            m.body.push(r.read(&t)?);
        }
        Ok(m)
    }
}

/// Reads one whole message's bytes from `r`.
pub fn read_message(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; 16];
    r.read_exact(&mut head)?;
    let body_len = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes")) as usize;
    let fields_len = u32::from_le_bytes(head[12..16].try_into().expect("4 bytes")) as usize;
    let total = (16 + fields_len).div_ceil(8) * 8 + body_len;
    if total > 128 << 20 {
        return Err(std::io::Error::other("D-Bus message over 128 MiB"));
    }
    head.resize(total, 0);
    r.read_exact(&mut head[16..])?;
    Ok(head)
}

/// The system bus address: `$DBUS_SYSTEM_BUS_ADDRESS` or the well-known socket.
pub fn system_bus_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .unwrap_or_else(|_| "unix:path=/run/dbus/system_bus_socket".into())
}

/// The session bus address of a rootless caller: `$DBUS_SESSION_BUS_ADDRESS` or the user's
/// runtime dir's `bus`.
pub fn session_bus_address() -> String {
    std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap_or_else(|_| {
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let dir = std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| format!("/run/user/{uid}"));
        format!("unix:path={dir}/bus")
    })
}

/// Opens the first `unix:path=` or `unix:abstract=` entry of a D-Bus address list.
fn open(address: &str) -> Result<UnixStream> {
    let io = |what: String| move |source| Error::Io { what, source };
    for entry in address.split(';') {
        let Some(params) = entry.strip_prefix("unix:") else {
            continue;
        };
        for kv in params.split(',') {
            if let Some(p) = kv.strip_prefix("path=") {
                return UnixStream::connect(p).map_err(io(format!("connect to D-Bus at {p}")));
            }
            if let Some(name) = kv.strip_prefix("abstract=") {
                use std::os::linux::net::SocketAddrExt;
                let a = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                    .map_err(io(format!("D-Bus address {address}")))?;
                return UnixStream::connect_addr(&a)
                    .map_err(io(format!("connect to D-Bus at @{name}")));
            }
        }
    }
    Err(Error::Protocol(format!(
        "D-Bus address {address:?} has no unix:path= or unix:abstract= entry"
    )))
}

/// A blocking connection to a message bus.
pub struct Conn {
    stream: UnixStream,
    serial: u32,
    /// Messages read while waiting for something else (signals before a reply).
    queued: VecDeque<Message>,
    /// Our unique name on the bus.
    pub unique_name: String,
}

impl Conn {
    /// Connects to `address`, authenticates as our uid (EXTERNAL) and says `Hello`.
    pub fn connect(address: &str, timeout: Duration) -> Result<Conn> {
        let stream = open(address)?;
        let mut c = Conn {
            stream,
            serial: 0,
            queued: VecDeque::new(),
            unique_name: String::new(),
        };
        c.auth(timeout)?;
        let reply = c.call(
            Message::call(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "Hello",
                vec![],
            ),
            timeout,
        )?;
        c.unique_name = reply
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(c)
    }

    fn auth(&mut self, timeout: Duration) -> Result<()> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() }.to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let io = |source| Error::Io {
            what: "D-Bus authentication".into(),
            source,
        };
        self.stream
            .write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())
            .map_err(io)?;
        self.stream.set_read_timeout(Some(timeout)).map_err(io)?;
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if self.stream.read(&mut b).map_err(io)? == 0 || line.len() > 512 {
                return Err(Error::Protocol(
                    "the bus closed during authentication".into(),
                ));
            }
            line.push(b[0]);
        }
        if !line.starts_with(b"OK ") {
            return Err(Error::Protocol(format!(
                "EXTERNAL authentication refused: {}",
                String::from_utf8_lossy(&line).trim()
            )));
        }
        self.stream.write_all(b"BEGIN\r\n").map_err(io)
    }

    /// Sends `m`, returning the serial it was given.
    pub fn send(&mut self, mut m: Message) -> Result<u32> {
        self.serial += 1;
        m.serial = self.serial;
        self.stream
            .write_all(&m.encode(m.serial))
            .map_err(|source| Error::Io {
                what: "D-Bus send".into(),
                source,
            })?;
        Ok(m.serial)
    }

    /// The next message (queued ones first), waiting until `deadline`.
    pub fn recv(&mut self, deadline: Instant, waiting_for: &str) -> Result<Message> {
        if let Some(m) = self.queued.pop_front() {
            return Ok(m);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let total = || Duration::from_secs(left.as_secs().max(1));
        if left.is_zero() {
            return Err(Error::Timeout(total(), waiting_for.into()));
        }
        let io = |what: &str| {
            let what = what.to_string();
            move |source| Error::Io { what, source }
        };
        self.stream
            .set_read_timeout(Some(left))
            .map_err(io("D-Bus socket"))?;
        match read_message(&mut self.stream) {
            Ok(buf) => Message::decode(&buf),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(Error::Timeout(total(), waiting_for.into()))
            }
            Err(e) => Err(io(&format!("D-Bus receive ({waiting_for})"))(e)),
        }
    }

    /// Calls a method and returns its reply's arguments; other messages that arrive first are
    /// kept for [`Conn::recv`].
    pub fn call(&mut self, m: Message, timeout: Duration) -> Result<Vec<Value>> {
        let what = format!("the reply to {}", m.member.clone().unwrap_or_default());
        let serial = self.send(m)?;
        let deadline = Instant::now() + timeout;
        let mut held = Vec::new();
        let res = loop {
            let m = match self.recv(deadline, &what) {
                Ok(m) => m,
                Err(e) => break Err(e),
            };
            if m.reply_serial != Some(serial) || m.kind == Kind::Call || m.kind == Kind::Signal {
                held.push(m);
                continue;
            }
            if m.kind == Kind::Error {
                let message = m.body.first().and_then(Value::as_str).unwrap_or("");
                break Err(Error::Remote {
                    name: m.error_name.clone().unwrap_or_default(),
                    message: message.to_string(),
                });
            }
            break Ok(m.body);
        };
        self.queued.extend(held);
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &Value) -> Vec<u8> {
        let mut b = Vec::new();
        marshal(&mut b, v);
        b
    }

    #[test]
    fn basic_types_are_aligned_and_little_endian() {
        let v = Value::Struct(vec![
            Value::Byte(7),
            Value::U32(1),
            Value::Str("ab".into()),
            Value::U64(2),
            Value::Bool(true),
        ]);
        let b = bytes(&v);
        assert_eq!(&b[0..4], &[7, 0, 0, 0], "u32 aligned to 4");
        assert_eq!(&b[4..8], &1u32.to_le_bytes());
        assert_eq!(&b[8..15], b"\x02\0\0\0ab\0");
        assert_eq!(&b[16..24], &2u64.to_le_bytes(), "u64 aligned to 8");
        assert_eq!(&b[24..28], &1u32.to_le_bytes(), "bool is 4 bytes");
        assert_eq!(v.signature(), "(yustb)");
    }

    #[test]
    fn array_length_excludes_padding_before_the_first_element() {
        // a(st) starts at offset 0: length (4 bytes), then padding to 8 for the struct.
        let v = Value::Array(
            "(st)".into(),
            vec![Value::Struct(vec![Value::Str("x".into()), Value::U64(9)])],
        );
        let b = bytes(&v);
        assert_eq!(&b[0..4], &16u32.to_le_bytes(), "{b:?}");
        assert_eq!(b.len(), 8 + 16);
        let empty = bytes(&Value::Array("t".into(), vec![]));
        // The padding to the element's alignment is there even with no element (the spec).
        assert_eq!(empty, vec![0; 8]);
    }

    #[test]
    fn systemd_start_transient_unit_arguments_round_trip() {
        let props = Value::Array(
            "(sv)".into(),
            vec![
                prop("Delegate", Value::Bool(true)),
                prop("PIDs", Value::Array("u".into(), vec![Value::U32(42)])),
                prop("MemoryLimit", Value::U64(1 << 30)),
                prop("Slice", Value::Str("a-b.slice".into())),
                prop(
                    "AllowedCPUs",
                    Value::Array("y".into(), vec![Value::Byte(3)]),
                ),
            ],
        );
        let aux = Value::Array("(sa(sv))".into(), vec![]);
        let m = Message::call(
            "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "StartTransientUnit",
            vec![
                Value::Str("p-c.scope".into()),
                Value::Str("replace".into()),
                props.clone(),
                aux.clone(),
            ],
        );
        let wire = m.encode(5);
        assert_eq!(wire.len() % 8, 0, "the body ends a whole message here");
        let back = Message::decode(&read_message(&mut wire.as_slice()).unwrap()).unwrap();
        assert_eq!(back.serial, 5);
        assert_eq!(back.member.as_deref(), Some("StartTransientUnit"));
        assert_eq!(
            back.destination.as_deref(),
            Some("org.freedesktop.systemd1")
        );
        assert_eq!(back.body[2], props);
        assert_eq!(back.body[3], aux);
        assert_eq!(split_signature("ssa(sv)a(sa(sv))").unwrap().len(), 4);
    }

    #[test]
    fn replies_signals_and_dicts_round_trip() {
        let call = Message {
            sender: Some(":1.7".into()),
            serial: 3,
            ..Message::call("d", "/", "i", "m", vec![])
        };
        let r = Message::reply(
            &call,
            Some("org.freedesktop.systemd1.NoSuchUnit"),
            vec![Value::Str("no".into())],
        );
        let back = Message::decode(&r.encode(9)).unwrap();
        assert_eq!(back.kind, Kind::Error);
        assert_eq!(back.reply_serial, Some(3));
        assert_eq!(back.destination.as_deref(), Some(":1.7"));
        let dict = Value::Array(
            "{sv}".into(),
            vec![Value::Entry(
                Box::new(Value::Str("k".into())),
                Box::new(Value::Variant(Box::new(Value::I64(-1)))),
            )],
        );
        let s = Message::signal(
            "/o",
            "i.f",
            "JobRemoved",
            vec![
                Value::U32(1),
                Value::Path("/org/freedesktop/systemd1/job/1".into()),
                dict.clone(),
            ],
        );
        let back = Message::decode(&s.encode(1)).unwrap();
        assert_eq!(back.kind, Kind::Signal);
        assert_eq!(back.body[2], dict);
    }

    #[test]
    fn truncated_and_bad_input_is_an_error_not_a_panic() {
        let wire = Message::call("d", "/", "i", "m", vec![Value::Str("xyz".into())]).encode(1);
        assert!(Message::decode(&wire[..wire.len() - 3]).is_err());
        assert!(split_signature("a(s").is_err());
        assert!(split_signature("z").is_err());
        assert!(Reader::new(&[255, 255, 255, 255], 0).read("s").is_err());
    }

    #[test]
    fn a_silent_peer_is_a_timeout_naming_what_was_awaited() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut c = Conn {
            stream: a,
            serial: 0,
            queued: VecDeque::new(),
            unique_name: String::new(),
        };
        let e = c
            .call(
                Message::call("d", "/", "i", "StopUnit", vec![]),
                Duration::from_millis(10),
            )
            .unwrap_err();
        assert!(matches!(e, Error::Timeout(..)), "{e}");
        assert!(e.to_string().contains("StopUnit"), "{e}");
    }
}
