//! What `credless dev` prints once it is ready: for people, a block of text; for scripts, one
//! line of JSON with the same facts.

use std::fmt;
use std::fmt::Write as _;

use credless_gateway::Server;
use credless_registry::model::DEFAULT_COOKIE_NAME;
use credless_testkit::User;
use serde::Serialize;

use crate::TENANT;

/// Where the dev environment is, and a ready session of the demo user.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct DevInfo {
    /// The demo tenant's portal, such as `http://demo.localhost:8080/`.
    pub portal_url: String,
    /// The operator listener, such as `http://127.0.0.1:8081`.
    pub admin_url: String,
    /// The operator API's bearer token, generated for this run.
    pub admin_token: String,
    /// The fake identity provider's issuer URL.
    pub idp_url: String,
    /// The demo tenant's id.
    pub tenant: String,
    /// The name of the session cookie.
    pub cookie_name: String,
    /// A `Cookie` header value carrying the demo user's session.
    pub cookie: String,
    /// A `curl` command line that reads `GET /api/v1/me` with that cookie.
    pub curl: String,
    /// The demo tenant's account ids.
    pub accounts: Vec<String>,
    /// The demo user.
    pub user: DevUser,
}

/// The person the dev identity provider signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DevUser {
    /// The ID token's `sub`.
    pub subject: String,
    /// The email, also the demo tenant's admin email.
    pub email: String,
}

impl DevInfo {
    pub(crate) fn new(
        server: &Server,
        admin_token: String,
        idp_url: String,
        cookie: String,
        accounts: Vec<String>,
        user: &User,
    ) -> Self {
        let portal_url = format!("http://{TENANT}.localhost:{}/", server.public_addr().port());
        let curl = format!("curl -H 'Cookie: {cookie}' {portal_url}api/v1/me");
        Self {
            admin_url: format!("http://{}", server.admin_addr()),
            portal_url,
            admin_token,
            idp_url,
            tenant: TENANT.to_owned(),
            cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
            cookie,
            curl,
            accounts,
            user: DevUser {
                subject: user.sub.clone(),
                email: user.email.clone(),
            },
        }
    }

    /// The facts as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The facts for a person at a terminal: URLs, how to sign in, a `curl` line to paste.
    pub fn to_text(&self) -> String {
        let portal = &self.portal_url;
        let mut text = String::new();
        let _ = writeln!(text, "Credless dev is running. Press Ctrl-C to stop.\n");
        let _ = writeln!(text, "  Portal      {portal}   (tenant `{}`)", self.tenant);
        let _ = writeln!(text, "  Operator    {}", self.admin_url);
        let _ = writeln!(text, "  Admin token {}", self.admin_token);
        let _ = writeln!(text, "  IdP         {}", self.idp_url);
        let _ = writeln!(text, "  Accounts    {}", self.accounts.join(", "));
        let _ = writeln!(
            text,
            "\nSign in: open {portal} in a browser and press \"Sign in\" on the local\n\
             identity provider's page; you are {} ({}), the demo tenant's admin.\n",
            self.user.email, self.user.subject
        );
        let _ = writeln!(
            text,
            "Or ask who you are from a terminal:\n\n  {}\n",
            self.curl
        );
        let _ = writeln!(text, "Then try, with the same cookie, under {portal}:");
        for call in [
            "GET    api/v1/accounts",
            "POST   api/v1/accounts/demo-gcp/verify",
            "POST   api/v1/accounts/demo-gcp/resources  \
             {\"kind\":\"vm\",\"name\":\"web-1\",\"region\":\"europe-west1\",\"size\":\"small\"}",
            "GET    api/v1/accounts/demo-gcp/resources?kind=vm",
            "GET    api/v1/audit",
        ] {
            let _ = writeln!(text, "  {call}");
        }
        text
    }
}

impl fmt::Debug for DevInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevInfo")
            .field("portal_url", &self.portal_url)
            .field("admin_url", &self.admin_url)
            .field("admin_token", &"<redacted>")
            .field("idp_url", &self.idp_url)
            .field("tenant", &self.tenant)
            .field("cookie", &"<redacted>")
            .field("accounts", &self.accounts)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> DevInfo {
        DevInfo {
            portal_url: "http://demo.localhost:8080/".into(),
            admin_url: "http://127.0.0.1:8081".into(),
            admin_token: "admin-token-secret".into(),
            idp_url: "http://127.0.0.1:40000".into(),
            tenant: "demo".into(),
            cookie_name: "_oauth2_proxy".into(),
            cookie: "_oauth2_proxy=cookie-secret".into(),
            curl:
                "curl -H 'Cookie: _oauth2_proxy=cookie-secret' http://demo.localhost:8080/api/v1/me"
                    .into(),
            accounts: vec!["demo-aws".into()],
            user: DevUser {
                subject: "demo-user".into(),
                email: "demo@example.com".into(),
            },
        }
    }

    #[test]
    fn debug_output_redacts_the_token_and_the_cookie() {
        let shown = format!("{:?}", info());
        assert!(!shown.contains("admin-token-secret"), "{shown}");
        assert!(!shown.contains("cookie-secret"), "{shown}");
        assert!(shown.contains("demo.localhost"));
    }

    #[test]
    fn the_json_is_one_line_with_every_member() {
        let line = info().to_json_line();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        for member in [
            "portal_url",
            "admin_url",
            "admin_token",
            "idp_url",
            "tenant",
            "cookie_name",
            "cookie",
            "curl",
            "accounts",
            "user",
        ] {
            assert!(value.get(member).is_some(), "no {member} in {line}");
        }
        assert_eq!(value["user"]["email"], "demo@example.com");
    }
}
