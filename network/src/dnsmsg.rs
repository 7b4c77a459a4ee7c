//! The little of the DNS wire format (RFC 1035) the embedded resolver needs: one question in,
//! A records or an error code out.

use std::net::Ipv4Addr;

/// Query type A.
pub const TYPE_A: u16 = 1;
/// Query type AAAA.
pub const TYPE_AAAA: u16 = 28;
/// Response code: the query was malformed.
pub const FORMERR: u8 = 1;
/// Response code: the resolver could not answer.
pub const SERVFAIL: u8 = 2;

/// The question of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The name, lower case, without the trailing dot.
    pub name: String,
    /// QTYPE.
    pub qtype: u16,
    /// Where the question ends in the message.
    end: usize,
}

/// Parses the single question of a query; None when it is not one well-formed question.
pub fn parse_query(msg: &[u8]) -> Option<Question> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 || u16::from_be_bytes([msg[4], msg[5]]) != 1 {
        return None;
    }
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let len = *msg.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        // Compression pointers cannot occur in the first name of a message.
        if len > 63 {
            return None;
        }
        let l = msg.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(l).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]);
    msg.get(i + 2..i + 4)?;
    Some(Question {
        name: labels.join("."),
        qtype,
        end: i + 4,
    })
}

/// The answer to `query` (whose question is `q`) with `addrs` as A records.
pub fn answer(query: &[u8], q: &Question, addrs: &[Ipv4Addr], ttl: u32) -> Vec<u8> {
    let mut r = header(query, 0, addrs.len() as u16);
    r.extend_from_slice(&query[12..q.end]);
    for a in addrs {
        // A pointer to the question's name at offset 12.
        r.extend_from_slice(&[0xc0, 0x0c]);
        r.extend_from_slice(&TYPE_A.to_be_bytes());
        r.extend_from_slice(&1u16.to_be_bytes());
        r.extend_from_slice(&ttl.to_be_bytes());
        r.extend_from_slice(&4u16.to_be_bytes());
        r.extend_from_slice(&a.octets());
    }
    r
}

/// An error response to `query` with `rcode`, echoing its question when it has one.
pub fn error(query: &[u8], q: Option<&Question>, rcode: u8) -> Vec<u8> {
    let mut r = header(query, rcode, 0);
    match q {
        Some(q) => r.extend_from_slice(&query[12..q.end]),
        None => r[4..6].copy_from_slice(&0u16.to_be_bytes()),
    }
    r
}

fn header(query: &[u8], rcode: u8, ancount: u16) -> Vec<u8> {
    let mut h = vec![0u8; 12];
    h[..2].copy_from_slice(&query[..2]);
    // QR, the query's opcode and RD; RA set; the code.
    h[2] = 0x80 | (query[2] & 0x79);
    h[3] = 0x80 | (rcode & 0x0f);
    h[4..6].copy_from_slice(&1u16.to_be_bytes());
    h[6..8].copy_from_slice(&ancount.to_be_bytes());
    h
}

/// A query for `name` of type `qtype` with id `id` (recursion desired).
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + name.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// The response code and A records of a response (for clients and tests).
pub fn parse_answer(msg: &[u8]) -> Option<(u8, Vec<Ipv4Addr>)> {
    let q = parse_query_section(msg)?;
    let n = u16::from_be_bytes([msg[6], msg[7]]);
    let mut i = q;
    let mut out = Vec::new();
    for _ in 0..n {
        // Skip the owner name (a pointer, or labels).
        loop {
            let b = *msg.get(i)?;
            if b & 0xc0 == 0xc0 {
                i += 2;
                break;
            }
            i += 1 + b as usize;
            if b == 0 {
                break;
            }
        }
        let t = u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]);
        let len = u16::from_be_bytes([*msg.get(i + 8)?, *msg.get(i + 9)?]) as usize;
        let data = msg.get(i + 10..i + 10 + len)?;
        if t == TYPE_A && len == 4 {
            out.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        i += 10 + len;
    }
    Some((msg[3] & 0x0f, out))
}

fn parse_query_section(msg: &[u8]) -> Option<usize> {
    let mut i = 12;
    while *msg.get(i)? != 0 {
        i += 1 + msg[i] as usize;
    }
    Some(i + 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_answer_round_trip() {
        let q = query(0x1234, "Web.", TYPE_A);
        let parsed = parse_query(&q).unwrap();
        assert_eq!((parsed.name.as_str(), parsed.qtype), ("web", TYPE_A));
        let ips = [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 1, 0, 2)];
        let r = answer(&q, &parsed, &ips, 600);
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(parse_answer(&r), Some((0, ips.to_vec())));
        assert_eq!(
            parse_answer(&error(&q, Some(&parsed), SERVFAIL)),
            Some((SERVFAIL, vec![]))
        );
    }

    #[test]
    fn malformed_queries_are_refused() {
        assert_eq!(parse_query(&[0; 5]), None);
        let mut q = query(1, "a.b", TYPE_A);
        q.truncate(q.len() - 3);
        assert_eq!(parse_query(&q), None);
        let mut resp = query(1, "a", TYPE_A);
        resp[2] |= 0x80;
        assert_eq!(parse_query(&resp), None, "a response is not a query");
    }
}
