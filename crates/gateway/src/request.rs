//! Checks every request passes before it is routed: header size, body size, an unambiguous
//! `Host`, a normalised path, and the client address as far as it can be believed.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Uri};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use ipnet::IpNet;

use crate::problem::Problem;

/// A request's id: 32 lower-case hex digits, kept inline so that passing it around costs no
/// allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId([u8; 32]);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The id as an `X-Request-Id` value.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.0).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

/// A fresh request id: a random per-process prefix and a counter, so ids are unique without a
/// system call per request.
pub fn new_request_id() -> RequestId {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 8];
        // Without randomness, ids are still unique within the process.
        let _ = aws_lc_rs::rand::fill(&mut bytes);
        u64::from_le_bytes(bytes)
    });
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = [0u8; 32];
    for (half, value) in [*prefix, counter].into_iter().enumerate() {
        for digit in 0..16 {
            let shift = (15 - digit) * 4;
            id[half * 16 + digit] = HEX_DIGITS[((value >> shift) & 0xf) as usize];
        }
    }
    RequestId(id)
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Refuses a header block (request line included) larger than `limit` bytes.
pub fn check_header_size(parts: &Parts, limit: usize) -> Result<(), Problem> {
    let line = parts.method.as_str().len() + uri_len(&parts.uri) + 12;
    let headers: usize = parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if line + headers > limit {
        return Err(Problem::headers_too_large(limit));
    }
    Ok(())
}

fn uri_len(uri: &Uri) -> usize {
    uri.path_and_query().map_or(1, |pq| pq.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len() + 8)
}

/// Refuses up front a body whose declared length is over `limit`.
pub fn check_declared_length(headers: &HeaderMap, limit: usize) -> Result<(), Problem> {
    let mut lengths = headers.get_all(CONTENT_LENGTH).iter();
    let Some(first) = lengths.next() else {
        return Ok(());
    };
    if lengths.next().is_some() {
        return Err(Problem::invalid("send one Content-Length header"));
    }
    let declared: u64 = first
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Problem::invalid("Content-Length is not a number"))?;
    if declared > limit as u64 {
        return Err(Problem::payload_too_large(limit));
    }
    Ok(())
}

/// Reads a whole body, refusing more than `limit` bytes or a sender slower than `timeout`.
pub async fn read_body<B>(body: B, limit: usize, timeout: Duration) -> Result<Bytes, Problem>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let collect = Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<LengthLimitError>() => Err(Problem::payload_too_large(limit)),
        Ok(Err(_)) => Err(Problem::invalid("the request body could not be read")),
        Err(_) => Err(Problem::new(
            http::StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            format!(
                "the request body was not received within {}s",
                timeout.as_secs()
            ),
        )),
    }
}

/// The one `Host` of a request, lower-cased, refusing what is ambiguous. It borrows from the
/// request when the client already sent it in lower case, as clients do.
///
/// No `Host`, two `Host` headers, or an absolute target naming another host is a `400`.
pub fn host(parts: &Parts) -> Result<Cow<'_, str>, Problem> {
    let mut hosts = parts.headers.get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host,
        (None, _) => return Err(Problem::invalid("the request has no Host header")),
        (Some(_), Some(_)) => return Err(Problem::invalid("send exactly one Host header")),
    };
    let host = host
        .to_str()
        .map_err(|_| Problem::invalid("the Host header is not valid text"))?
        .trim();
    let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    };
    if let Some(authority) = parts.uri.authority()
        && host_only(authority.as_str()) != host_only(&host)
    {
        return Err(Problem::invalid(
            "the request target names another host than Host",
        ));
    }
    Ok(host)
}

/// `a.example.com.:8080` → `a.example.com`.
fn host_only(authority: &str) -> String {
    let authority = authority
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let host = if authority.starts_with('[') {
        authority
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default().to_owned()
    };
    host.trim_end_matches('.').to_owned()
}

/// Resolves dot segments (also percent-encoded ones) and repeated slashes; refuses encoded
/// slashes, backslashes and control characters, which mean different paths to different
/// servers.
pub fn normalize_path(raw: &str) -> Result<String, Problem> {
    if !raw.starts_with('/') {
        return Err(Problem::invalid("the request path must start with `/`"));
    }
    // The common case, a path with no dot, escape, backslash, control character or empty
    // segment, is already normal.
    let plain = !raw.contains("//")
        && !raw
            .bytes()
            .any(|b| matches!(b, b'.' | b'%' | b'\\') || b.is_ascii_control());
    if plain {
        return Ok(raw.to_owned());
    }
    let lower = raw.to_ascii_lowercase();
    if ["%2f", "%5c", "%00"].iter().any(|bad| lower.contains(bad))
        || raw.bytes().any(|b| b == b'\\' || b.is_ascii_control())
    {
        return Err(Problem::invalid(
            "the request path contains an encoded slash, a backslash or a control character",
        ));
    }

    let mut segments: Vec<&str> = Vec::new();
    for segment in raw.split('/').skip(1) {
        match lower_dots(segment) {
            Some(1) => {}
            Some(2) => {
                segments.pop();
            }
            _ if segment.is_empty() => {}
            _ => segments.push(segment),
        }
    }
    let mut path = format!("/{}", segments.join("/"));
    let last = raw.rsplit('/').next().unwrap_or_default();
    if !segments.is_empty() && (last.is_empty() || lower_dots(last).is_some()) {
        path.push('/');
    }
    Ok(path)
}

/// `Some(n)` when a segment is only `n` dots, written plainly or as `%2e`.
fn lower_dots(segment: &str) -> Option<usize> {
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    match decoded.as_str() {
        "." => Some(1),
        ".." => Some(2),
        _ => None,
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself trusted.
pub fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer.ip()) {
        return peer.ip();
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer.ip())
}

/// `https` or `http`: `X-Forwarded-Proto` when a trusted proxy sent it, else `http` (the
/// listeners speak plain HTTP; TLS ends at the load balancer).
pub fn forwarded_proto(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> &'static str {
    let believed = trusted.iter().any(|net| net.contains(&peer.ip()));
    let said = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok());
    match said {
        Some(proto) if believed && proto.trim().eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

/// Parses a JSON body; errors name the field path and say what was wrong.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let field = error.path().to_string();
        let inner = error.into_inner();
        let reason = strip_position(&inner.to_string());
        if field == "." || field.is_empty() {
            Problem::invalid(format!("the body is not a valid JSON document: {reason}"))
        } else {
            Problem::invalid_field(field, reason)
        }
    })
}

/// serde_json appends "at line 1 column 42"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests;
