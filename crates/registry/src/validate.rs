//! The rules a tenant must follow before it is stored, and the policy that tunes them.
//!
//! Every error names the exact field that broke a rule. Values are never repeated in
//! messages, because a URL may carry credentials.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::error::{RegistryError, Result};
use crate::model::{Oidc, Tenant};

mod account;

/// Deployment-wide settings that tenant validation and host resolution depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Every tenant is reached at `<id>.<public_base_domain>`.
    pub public_base_domain: String,
    /// Allows `http://` and internal addresses for `proxy_url` and the OIDC issuer
    /// (local development and tests only).
    pub allow_insecure_upstreams: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            public_base_domain: "localhost".to_owned(),
            allow_insecure_upstreams: false,
        }
    }
}

impl Policy {
    /// Checks the policy itself: the base domain must be a DNS name.
    pub fn validate(&self) -> Result<()> {
        let base = normalize_host(&self.public_base_domain);
        check_dns_name(&base)
            .map_err(|reason| RegistryError::invalid("server.public_base_domain", reason))
    }

    /// The base domain lower-cased and without a trailing dot.
    pub fn base_domain(&self) -> String {
        normalize_host(&self.public_base_domain)
    }

    /// The hostname every tenant gets for free: `<id>.<public_base_domain>`.
    pub fn default_hostname(&self, tenant_id: &str) -> String {
        format!("{tenant_id}.{}", self.base_domain())
    }
}

impl Tenant {
    /// Lower-cases the hostnames, drops a redundant `<id>.<public_base_domain>`, then checks
    /// every rule of the contract.
    ///
    /// Fails with [`RegistryError::Invalid`] naming the first field that breaks a rule.
    pub fn normalize_and_validate(&mut self, policy: &Policy) -> Result<()> {
        check_id(&self.id).map_err(|reason| RegistryError::invalid("id", reason))?;
        check_email(&self.admin_email)
            .map_err(|reason| RegistryError::invalid("admin_email", reason))?;
        self.hostnames = checked_hostnames(&self.id, &self.hostnames, policy)?;
        check_upstream_url(&self.proxy_url, policy)
            .map_err(|reason| RegistryError::invalid("proxy_url", reason))?;
        check_cookie_name(&self.cookie_name)
            .map_err(|reason| RegistryError::invalid("cookie_name", reason))?;
        check_oidc(&self.oidc, policy)?;
        check_names("admin_groups", &self.admin_groups)
    }
}

/// Whether `ip` is an address no tenant upstream may use: loopback, private (RFC 1918,
/// `fc00::/7`), link-local, unspecified, broadcast, carrier-grade NAT (`100.64.0.0/10`), the
/// cloud metadata addresses, and IPv4 addresses embedded in IPv6 (mapped, compatible, NAT64)
/// that are any of those.
///
/// Use it to refuse a hostname that *resolves* to such an address.
pub fn is_internal_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // includes the metadata address 169.254.169.254
        || ip.is_broadcast()
        || a == 0 // "this network", including the unspecified 0.0.0.0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embedded_v4 = || {
        let [.., a, b, c, d] = ip.octets();
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_loopback() || ip.is_unspecified() {
        return true;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    if segments[..6] == [0; 6] {
        return is_internal_v4(embedded_v4()); // deprecated IPv4-compatible form
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_internal_v4(embedded_v4()); // NAT64 well-known prefix
    }
    (segments[0] & 0xfe00) == 0xfc00 // unique local, includes fd00:ec2::254
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // deprecated site-local
}

/// Checks an identifier of a tenant or an account: `^[a-z0-9][a-z0-9-]{0,62}$`.
pub(crate) fn check_id(id: &str) -> Result<(), &'static str> {
    let mut chars = id.chars();
    match chars.next() {
        None => return Err("is required"),
        Some(first) if !(first.is_ascii_lowercase() || first.is_ascii_digit()) => {
            return Err("must start with a lowercase letter or a digit");
        }
        Some(_) => {}
    }
    if id.len() > 63 {
        return Err("must be at most 63 characters");
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err("may contain only lowercase letters, digits and `-`");
    }
    Ok(())
}

/// Lower-cases `host` and strips one trailing dot.
pub(crate) fn normalize_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    match host.strip_suffix('.') {
        Some(stripped) => stripped.to_owned(),
        None => host,
    }
}

/// Checks a normalised DNS name: labels of 1-63 `[a-z0-9-]` not starting or ending with `-`,
/// at most 253 characters, and not an IP address.
pub(crate) fn check_dns_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() > 253 {
        return Err("must be at most 253 characters");
    }
    if name.parse::<IpAddr>().is_ok() || name.contains(':') {
        return Err("must be a DNS name, not an IP address or a port");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("every label must have 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("may contain only letters, digits, `-` and dots");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label must not start or end with `-`");
        }
    }
    Ok(())
}

fn checked_hostnames(id: &str, hostnames: &[String], policy: &Policy) -> Result<Vec<String>> {
    let base = policy.base_domain();
    let own = policy.default_hostname(id);
    let mut kept: Vec<(usize, String)> = Vec::with_capacity(hostnames.len());
    for (index, raw) in hostnames.iter().enumerate() {
        let field = || format!("hostnames[{index}]");
        let host = normalize_host(raw);
        check_dns_name(&host).map_err(|reason| RegistryError::invalid(field(), reason))?;
        if let Some((first, _)) = kept.iter().find(|(_, seen)| *seen == host) {
            return Err(RegistryError::invalid(
                field(),
                format!("repeats hostnames[{first}]"),
            ));
        }
        if host == own {
            continue; // every tenant has it anyway
        }
        if host == base || host.ends_with(&format!(".{base}")) {
            let reason = format!("must not be at or under `{base}`; `{own}` is already served");
            return Err(RegistryError::invalid(field(), reason));
        }
        kept.push((index, host));
    }
    Ok(kept.into_iter().map(|(_, host)| host).collect())
}

fn check_email(email: &str) -> Result<(), &'static str> {
    if email.is_empty() {
        return Err("is required");
    }
    if email.len() > 254 {
        return Err("must be at most 254 characters");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must be an email address");
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err("must be an email address with one `@` and a local part");
    }
    let domain = domain.to_ascii_lowercase();
    if check_dns_name(&domain).is_err() || !(domain.contains('.') || domain == "localhost") {
        return Err("must have a domain such as `example.com`");
    }
    Ok(())
}

fn check_oidc(oidc: &Oidc, policy: &Policy) -> Result<()> {
    check_upstream_url(&oidc.issuer, policy)
        .map_err(|reason| RegistryError::invalid("oidc.issuer", reason))?;
    if oidc.audiences.is_empty() {
        return Err(RegistryError::invalid(
            "oidc.audiences",
            "must name at least one audience",
        ));
    }
    check_names("oidc.audiences", &oidc.audiences)
}

/// Checks list entries that must be non-empty text without control characters.
pub(crate) fn check_names(field: &str, names: &[String]) -> Result<()> {
    for (index, name) in names.iter().enumerate() {
        let reason = if name.trim().is_empty() {
            "must not be empty"
        } else if name.chars().any(char::is_control) {
            "must not contain control characters"
        } else {
            continue;
        };
        return Err(RegistryError::invalid(format!("{field}[{index}]"), reason));
    }
    Ok(())
}

fn check_cookie_name(name: &str) -> Result<(), &'static str> {
    const SEPARATORS: &[u8] = b"()<>@,;:\\\"/[]?={} \t";
    if name.is_empty() || name.len() > 64 {
        return Err("must have 1 to 64 characters");
    }
    let token = |b: u8| b.is_ascii_graphic() && !SEPARATORS.contains(&b);
    if !name.bytes().all(token) {
        return Err("must be a cookie token: visible ASCII without separators");
    }
    Ok(())
}

/// Checks `proxy_url` or an OIDC issuer: absolute, no credentials, query or fragment, and
/// unless the policy allows insecure upstreams, `https` to a host that is not internal.
fn check_upstream_url(raw: &str, policy: &Policy) -> Result<(), &'static str> {
    if raw.is_empty() {
        return Err("is required");
    }
    // The parser would silently trim these, so the stored value would differ from the URL used.
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let url = Url::parse(raw).map_err(|_| "must be an absolute URL")?;
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => policy.allow_insecure_upstreams,
        _ => false,
    };
    if !scheme_ok {
        return Err(if policy.allow_insecure_upstreams {
            "must be an http or https URL"
        } else {
            "must be an https URL"
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or a fragment");
    }
    let Some(host) = url.host() else {
        return Err("must name a host");
    };
    if policy.allow_insecure_upstreams {
        return Ok(());
    }
    let internal = match host {
        Host::Ipv4(ip) => is_internal_address(IpAddr::V4(ip)),
        Host::Ipv6(ip) => is_internal_address(IpAddr::V6(ip)),
        Host::Domain(name) => {
            let name = normalize_host(name);
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    if internal {
        return Err("must not name a loopback, private, link-local or metadata address");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
