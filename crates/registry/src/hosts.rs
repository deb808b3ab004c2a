//! Which tenant a `Host` header names.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::Tenant;
use crate::validate::{Policy, normalize_host};

/// An immutable map from hostnames to tenants, rebuilt whenever the tenants change.
///
/// A tenant answers on its custom hostnames (exact match only) and on
/// `<id>.<public_base_domain>` (exactly one label before the base domain).
#[derive(Debug, Clone, Default)]
pub struct HostIndex {
    base_domain: String,
    by_id: HashMap<String, Arc<Tenant>>,
    by_hostname: HashMap<String, Arc<Tenant>>,
}

impl HostIndex {
    /// Indexes `tenants`, which are expected to be valid.
    ///
    /// A custom hostname at or under the base domain is ignored (it can only appear if the
    /// base domain changed after the tenant was stored), so that `<id>.<base>` always means
    /// tenant `<id>`. Of two tenants claiming one hostname, which the store prevents, the
    /// first keeps it.
    pub fn new(tenants: impl IntoIterator<Item = Tenant>, policy: &Policy) -> Self {
        let base_domain = policy.base_domain();
        let mut index = Self {
            base_domain,
            ..Self::default()
        };
        for tenant in tenants {
            index.insert(Arc::new(tenant));
        }
        index
    }

    /// A copy of this index with `tenant` added, or replacing the tenant of the same id.
    pub fn with(&self, tenant: Tenant) -> Self {
        let mut index = self.without(&tenant.id);
        index.insert(Arc::new(tenant));
        index
    }

    /// A copy of this index without the tenant `id`.
    pub fn without(&self, id: &str) -> Self {
        let mut index = self.clone();
        if index.by_id.remove(id).is_some() {
            index.by_hostname.retain(|_, tenant| tenant.id != id);
        }
        index
    }

    /// Every indexed tenant, in no particular order.
    pub fn tenants(&self) -> impl Iterator<Item = &Arc<Tenant>> {
        self.by_id.values()
    }

    /// The tenant a raw `Host` header value names, if any.
    ///
    /// The value is lower-cased and loses its port and one trailing dot; anything that is not
    /// then a plain DNS name (IP literals, `@`, `/`, `%`, non-ASCII) names no tenant.
    pub fn resolve(&self, host: &str) -> Option<Arc<Tenant>> {
        // Only valid names and ids were indexed, so anything else simply finds nothing.
        let host = strip_port(host)?;
        let normalized;
        let host = if host.ends_with('.') || host.bytes().any(|b| b.is_ascii_uppercase()) {
            normalized = normalize_host(host);
            normalized.as_str()
        } else {
            host
        };
        if let Some(tenant) = self.by_hostname.get(host) {
            return Some(Arc::clone(tenant));
        }
        let id = host.strip_suffix(&self.base_domain)?.strip_suffix('.')?;
        self.by_id.get(id).cloned()
    }

    /// The tenant with this id, if indexed.
    pub fn tenant(&self, id: &str) -> Option<Arc<Tenant>> {
        self.by_id.get(id).cloned()
    }

    /// How many tenants are indexed.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no tenant is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn insert(&mut self, tenant: Arc<Tenant>) {
        let under_base = format!(".{}", self.base_domain);
        for hostname in &tenant.hostnames {
            let hostname = normalize_host(hostname);
            if hostname == self.base_domain || hostname.ends_with(&under_base) {
                tracing::warn!(
                    tenant.id = %tenant.id,
                    hostname = %hostname,
                    "Ignoring a custom hostname under the public base domain"
                );
                continue;
            }
            self.by_hostname
                .entry(hostname)
                .or_insert_with(|| Arc::clone(&tenant));
        }
        self.by_id.insert(tenant.id.clone(), tenant);
    }
}

/// `host` without its `:port`; `None` when the port is malformed or a bracketed literal is no
/// IPv6 address. `[v6]:port` gives the address, which no tenant hostname can equal.
fn strip_port(host: &str) -> Option<&str> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (literal, after) = rest.split_once(']')?;
        literal.parse::<std::net::Ipv6Addr>().ok()?;
        (
            literal,
            if after.is_empty() {
                None
            } else {
                Some(after.strip_prefix(':')?)
            },
        )
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok.then_some(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

    use super::*;
    use crate::model::Oidc;

    fn tenant(id: &str, hostnames: &[&str]) -> Tenant {
        Tenant {
            id: id.to_owned(),
            admin_email: format!("ops@{id}.example"),
            hostnames: hostnames.iter().map(|h| (*h).to_owned()).collect(),
            proxy_url: "https://auth.example".to_owned(),
            cookie_name: "_oauth2_proxy".to_owned(),
            oidc: Oidc {
                issuer: "https://id.example/".to_owned(),
                audiences: vec!["c".into()],
            },
            admin_groups: vec![],
        }
    }

    fn index(base: &str) -> HostIndex {
        let policy = Policy {
            public_base_domain: base.to_owned(),
            ..Policy::default()
        };
        HostIndex::new(
            [
                tenant("a", &["a.example.com", "cloud.a.example"]),
                tenant("acme", &[]),
            ],
            &policy,
        )
    }

    #[test]
    fn resolution_table() {
        let index = index("localhost");
        let cases: &[(&str, Option<&str>)] = &[
            ("a.example.com", Some("a")),
            ("A.Example.COM", Some("a")),
            ("a.example.com:8443", Some("a")),
            ("a.example.com:443", Some("a")),
            ("a.example.com.", Some("a")),
            ("a.example.com.:443", Some("a")),
            ("cloud.a.example", Some("a")),
            ("acme.localhost", Some("acme")),
            ("ACME.localhost:8080", Some("acme")),
            ("a.localhost", Some("a")),
            ("a.example.com.evil.net", None),
            ("xa.example.com", None),
            ("evil.a.example.com", None),
            ("example.com", None),
            ("a.example.com..", None),
            ("x.acme.localhost", None),
            ("acme.localhost.evil", None),
            ("localhost", None),
            (".localhost", None),
            ("nobody.localhost", None),
            ("", None),
            (":80", None),
            ("a.example.com:", None),
            ("a.example.com:http", None),
            ("a.example.com:443:443", None),
            ("\u{0}\u{ff}garbage", None),
            ("a.example.com\r\n", None),
            ("[::1]", None),
            ("[::1]:8080", None),
            ("[a.example.com]:443", None),
            ("[::1", None),
            ("::1", None),
            ("127.0.0.1", None),
            ("a%2eexample.com", None),
            ("а.example.com", None),         // Cyrillic `а`
            ("a.example.com\u{3002}", None), // ideographic full stop
            ("ａ.example.com", None),        // fullwidth `a`
            ("user@a.example.com", None),
            ("a.example.com@evil.net", None),
            ("a.example.com/evil", None),
            ("evil.net/a.example.com", None),
            ("a.example.com ", None),
            ("*.localhost", None),
        ];
        for (host, expected) in cases {
            let found = index.resolve(host).map(|t| t.id.clone());
            assert_eq!(found.as_deref(), *expected, "Host: {host:?}");
        }
    }

    #[test]
    fn ports_are_stripped_only_when_well_formed() {
        assert_eq!(strip_port("[::1]:443"), Some("::1"));
        assert_eq!(strip_port("[a.example.com]:443"), None);
        assert_eq!(strip_port("[::1]x"), None);
        assert_eq!(strip_port("a.example:0443"), Some("a.example"));
    }

    #[test]
    fn the_base_domain_form_needs_exactly_one_label() {
        let index = index("Credless.Example.COM.");
        assert_eq!(
            index.resolve("acme.credless.example.com").unwrap().id,
            "acme"
        );
        assert!(index.resolve("x.acme.credless.example.com").is_none());
        assert!(index.resolve("credless.example.com").is_none());
        assert!(index.resolve("acme-credless.example.com").is_none());
    }

    #[test]
    fn custom_hostnames_under_the_base_domain_are_ignored() {
        let policy = Policy {
            public_base_domain: "example.com".to_owned(),
            ..Policy::default()
        };
        let index = HostIndex::new([tenant("b", &["a.example.com"]), tenant("a", &[])], &policy);
        assert_eq!(index.resolve("a.example.com").unwrap().id, "a");
    }

    #[test]
    fn with_and_without_update_a_copy() {
        let before = index("localhost");
        let after = before.with(tenant("a", &["new.a.example"])).without("acme");
        assert!(
            after.resolve("a.example.com").is_none(),
            "old hostname forgotten"
        );
        assert_eq!(after.resolve("new.a.example").unwrap().id, "a");
        assert!(after.resolve("acme.localhost").is_none());
        assert_eq!(after.len(), 1);
        assert_eq!(
            before.resolve("a.example.com").unwrap().id,
            "a",
            "original untouched"
        );
    }
}
