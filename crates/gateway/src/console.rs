//! The web portal's pages: static HTML, CSS and JavaScript modules compiled into the binary and
//! served at `/` of every tenant hostname, behind the same session check as the portal API.
//!
//! Each file is answered with its content type, a strong `ETag` (a digest of its bytes, taken
//! once), `Cache-Control: private, no-cache` so that browsers revalidate with `If-None-Match`
//! and get `304`, and the security headers every portal response carries: a strict
//! Content-Security-Policy that allows nothing but this origin, `nosniff`, no referrer and no
//! framing. The portal itself only calls the portal API; this module holds no state, templates
//! or per-user content, and is not a general static file server.

use std::sync::OnceLock;

use aws_lc_rs::digest::{SHA256, digest};
use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderMap, HeaderName, HeaderValue,
    IF_NONE_MATCH, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{Method, Response, StatusCode};
use http_body_util::Full;

use crate::problem::{Body, Problem};

/// The policy of every portal page: this origin only, no inline code, no framing.
pub(crate) const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file: the path it answers at, its content type and its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of the portal. `/` is the page; everything it loads lives under `/assets/`.
static ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: HTML,
        bytes: include_bytes!("../assets/portal/index.html"),
    },
    Asset {
        path: "/assets/portal.css",
        content_type: CSS,
        bytes: include_bytes!("../assets/portal/portal.css"),
    },
    Asset {
        path: "/assets/favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../assets/portal/favicon.svg"),
    },
    Asset {
        path: "/assets/app.js",
        content_type: JS,
        bytes: include_bytes!("../assets/portal/app.js"),
    },
    Asset {
        path: "/assets/api.js",
        content_type: JS,
        bytes: include_bytes!("../assets/portal/api.js"),
    },
    Asset {
        path: "/assets/dom.js",
        content_type: JS,
        bytes: include_bytes!("../assets/portal/dom.js"),
    },
    Asset {
        path: "/assets/accounts.js",
        content_type: JS,
        bytes: include_bytes!("../assets/portal/accounts.js"),
    },
    Asset {
        path: "/assets/resources.js",
        content_type: JS,
        bytes: include_bytes!("../assets/portal/resources.js"),
    },
    Asset {
        path: "/assets/admin.js",
        content_type: JS,
        bytes: include_bytes!("../assets/portal/admin.js"),
    },
    Asset {
        path: "/assets/audit.js",
        content_type: JS,
        bytes: include_bytes!("../assets/portal/audit.js"),
    },
];

/// Answers a signed-in request for a portal path (anything outside `/api/`).
///
/// `/` and `/index.html` are the page, `/assets/…` its files; anything else is `404`, and
/// methods other than `GET` and `HEAD` are `405`.
pub(crate) fn respond(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, Problem> {
    let path = if path == "/index.html" { "/" } else { path };
    let Some(index) = ASSETS.iter().position(|asset| asset.path == path) else {
        return Err(secured(Problem::not_found(format!(
            "no page at {path}; the portal starts at /"
        ))));
    };
    if !matches!(*method, Method::GET | Method::HEAD) {
        return Err(secured(Problem::method_not_allowed("GET, HEAD")));
    }

    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let not_modified = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| matches_any(value, etag));

    let (status, bytes) = if not_modified {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else {
        (StatusCode::OK, Bytes::from_static(asset.bytes))
    };
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = status;
    let out = response.headers_mut();
    for (name, value) in security_headers() {
        out.insert(name, value);
    }
    out.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        out.insert(ETAG, value);
    }
    if !not_modified {
        out.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    }
    Ok(response)
}

/// The headers every portal response carries, pages and their errors alike.
fn security_headers() -> [(HeaderName, HeaderValue); 6] {
    [
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        ),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

/// A portal error with the same security headers as a page.
fn secured(problem: Problem) -> Problem {
    security_headers()
        .into_iter()
        .fold(problem, |problem, (name, value)| {
            problem.with_header(name, value)
        })
}

/// The strong `ETag` of each asset, in [`ASSETS`] order: a quoted prefix of its SHA-256.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let sum = digest(&SHA256, asset.bytes);
                let hex: String = sum.as_ref()[..16]
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

/// `If-None-Match`: `*`, or a list of entity tags compared weakly (RFC 9110, 13.1.2).
fn matches_any(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_non_empty_and_listed_once() {
        for (at, asset) in ASSETS.iter().enumerate() {
            assert!(!asset.bytes.is_empty(), "{} is empty", asset.path);
            let same = ASSETS
                .iter()
                .filter(|other| other.path == asset.path)
                .count();
            assert_eq!(same, 1, "{} listed twice", asset.path);
            assert_ne!(etags()[at], "\"\"");
        }
    }

    #[test]
    fn the_page_loads_only_listed_assets_and_no_inline_code() {
        let page = std::str::from_utf8(ASSETS[0].bytes).unwrap_or_default();
        assert!(!page.contains("<style"), "inline style");
        assert!(!page.contains("style="), "inline style attribute");
        assert!(!page.contains("<script>"), "inline script");
        for needle in ["src=\"", "href=\""] {
            for part in page.split(needle).skip(1) {
                let target = part.split('"').next().unwrap_or_default();
                if target.starts_with('#') || target.starts_with("/oauth2/") {
                    continue;
                }
                assert!(
                    ASSETS.iter().any(|asset| asset.path == target),
                    "the page loads {target}, which is not embedded"
                );
            }
        }
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_star() {
        assert!(matches_any("\"abc\"", "\"abc\""));
        assert!(matches_any("W/\"abc\"", "\"abc\""));
        assert!(matches_any("\"x\", \"abc\"", "\"abc\""));
        assert!(matches_any("*", "\"abc\""));
        assert!(!matches_any("\"abd\"", "\"abc\""));
        assert!(!matches_any("", "\"abc\""));
    }
}
