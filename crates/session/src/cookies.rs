//! Picking a tenant's own session cookies out of a request.

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use smallvec::SmallVec;

/// The tenant's own session cookies in a request: only those named `cookie_name` or
/// `<cookie_name>_<n>` (oauth2-proxy's split sessions), from every `Cookie` header, in the
/// order the browser sent them.
///
/// Cookies with an empty value (a cleared session) are left out; `Cookie` headers that are
/// not visible ASCII are skipped. The pairs borrow from the request, and the usual few fit
/// inline, so that a warm session is recognised without copying or allocating;
/// [`TenantCookies::header_value`] builds the line sent to the proxy only when it is asked.
pub(crate) struct TenantCookies<'a> {
    pairs: SmallVec<[&'a str; 4]>,
}

impl TenantCookies<'_> {
    /// The `name=value` pairs, in request order.
    pub(crate) fn pairs(&self) -> &[&str] {
        &self.pairs
    }

    /// The `Cookie` header to send to the tenant's proxy: the pairs joined by `; `.
    pub(crate) fn header_value(&self) -> Option<HeaderValue> {
        // Each pair came from a valid header value, so the joined line is one too.
        match self.pairs.as_slice() {
            [] => None,
            [one] => HeaderValue::from_str(one).ok(),
            _ => HeaderValue::from_str(&self.pairs.join("; ")).ok(),
        }
    }
}

/// The tenant's cookies in `headers`; `None` when the request carries none of them.
pub(crate) fn tenant_cookies<'a>(
    cookie_name: &str,
    headers: &'a HeaderMap,
) -> Option<TenantCookies<'a>> {
    let pairs: SmallVec<[&str; 4]> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .map(str::trim)
        .filter(|pair| {
            pair.split_once('=').is_some_and(|(name, value)| {
                belongs_to(name.trim(), cookie_name) && !value.trim().is_empty()
            })
        })
        .collect();
    (!pairs.is_empty()).then_some(TenantCookies { pairs })
}

/// Whether `name` is `cookie_name` or `<cookie_name>_<digits>`.
fn belongs_to(name: &str, cookie_name: &str) -> bool {
    match name.strip_prefix(cookie_name) {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('_')
            .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for cookie in cookies {
            headers.append(COOKIE, HeaderValue::from_str(cookie).unwrap());
        }
        headers
    }

    #[test]
    fn only_the_tenant_cookie_and_its_split_parts_are_kept() {
        let request = headers(&[
            "theme=dark; _oauth2_proxy_0=part0; _oauth2_proxy_csrf=x",
            "_oauth2_proxy_1=part1;other_oauth2_proxy=y; _oauth2_proxy_=z; _oauth2_proxy_1a=w",
        ]);

        let kept = tenant_cookies("_oauth2_proxy", &request)
            .unwrap()
            .header_value()
            .unwrap();

        assert_eq!(kept, "_oauth2_proxy_0=part0; _oauth2_proxy_1=part1");
    }

    #[test]
    fn the_plain_cookie_is_kept_with_its_value_intact() {
        let request = headers(&["_oauth2_proxy=abc==|123|sig="]);

        let kept = tenant_cookies("_oauth2_proxy", &request)
            .unwrap()
            .header_value()
            .unwrap();

        assert_eq!(kept, "_oauth2_proxy=abc==|123|sig=");
    }

    #[test]
    fn no_tenant_cookie_or_only_a_cleared_one_is_none() {
        assert!(tenant_cookies("_oauth2_proxy", &headers(&["a=b; c=d"])).is_none());
        assert!(tenant_cookies("_oauth2_proxy", &headers(&["_oauth2_proxy="])).is_none());
        assert!(tenant_cookies("_oauth2_proxy", &HeaderMap::new()).is_none());
        assert!(tenant_cookies("acme", &headers(&["_oauth2_proxy=x"])).is_none());
    }
}
