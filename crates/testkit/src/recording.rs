//! What a fake received, kept so tests can assert which headers and cookies reached it.

use std::sync::{Mutex, MutexGuard, PoisonError};

use wiremock::Request;

/// One HTTP request as a fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method, such as `GET`.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string without `?`, if the request had one.
    pub query: Option<String>,
    /// Every header in arrival order, names lowercase, values lossily decoded as UTF-8.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    pub(crate) fn from_request(request: &Request) -> Self {
        let headers = request
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        Self {
            method: request.method.as_str().to_owned(),
            path: request.url.path().to_owned(),
            query: request.url.query().map(str::to_owned),
            headers,
        }
    }

    /// The first value of the header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every cookie the request carried, from all its `Cookie` headers, in order.
    pub fn cookies(&self) -> Vec<(String, String)> {
        let values = self
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("cookie"))
            .map(|(_, value)| value.as_str());
        parse_cookies(values)
    }
}

/// Splits `Cookie` header values into name/value pairs, skipping malformed pieces.
pub(crate) fn parse_cookies<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Vec<(String, String)> {
    values
        .into_iter()
        .flat_map(|value| value.split(';'))
        .filter_map(|piece| {
            let (name, value) = piece.trim().split_once('=')?;
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// The `Cookie` pairs of a wiremock request.
pub(crate) fn request_cookies(request: &Request) -> Vec<(String, String)> {
    let values = request
        .headers
        .get_all("cookie")
        .iter()
        .filter_map(|value| value.to_str().ok());
    parse_cookies(values)
}

/// The first value of a query parameter, percent-decoded.
pub(crate) fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Locks `mutex`, carrying on with the data if a panicking test poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_come_from_every_cookie_header_in_order() {
        let cookies = parse_cookies(["a=1; b=2", "c=x=y", "broken"]);
        assert_eq!(
            cookies,
            [
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("c".into(), "x=y".into())
            ]
        );
    }
}
