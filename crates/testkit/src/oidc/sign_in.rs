//! The fake provider's HTML sign-in page, for people trying Credless in a browser.
//!
//! It is not a login form: there is no password, and whoever presses the button signs in as
//! the provider's next user.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::User;

/// The authorize parameters the page carries over into its form.
const CARRIED: [&str; 6] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
];

/// The page: who will sign in, and a form posting the authorize request back.
pub(super) fn page(user: &User, params: &HashMap<String, String>) -> String {
    let mut hidden = String::new();
    for name in CARRIED {
        if let Some(value) = params.get(name) {
            let _ = writeln!(
                hidden,
                "      <input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(value)
            );
        }
    }
    let client = escape(params.get("client_id").map_or("", String::as_str));
    let email = escape(&user.email);
    let sub = escape(&user.sub);
    let groups = escape(&user.groups.join(", "));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n  <meta charset=\"utf-8\">\n  \
         <title>Sign in - Credless dev identity provider</title>\n</head>\n<body>\n  \
         <main>\n    <h1>Sign in</h1>\n    <p>The local identity provider signs you in to \
         <code>{client}</code>. There is no password.</p>\n    <form method=\"post\" \
         action=\"/authorize\">\n{hidden}      <label>User\n        \
         <select name=\"login\">\n          \
         <option value=\"{sub}\" selected>{email} ({sub}; groups: {groups})</option>\n        \
         </select>\n      </label>\n      <button type=\"submit\">Sign in</button>\n    \
         </form>\n  </main>\n</body>\n</html>\n"
    )
}

/// `value` made safe inside HTML text and double-quoted attributes.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OidcProvider;

    #[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
    #[tokio::test]
    async fn a_browser_signs_in_by_submitting_the_page_and_tests_are_approved_at_once() {
        let idp = OidcProvider::start().await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let authorize = format!(
            "{}/authorize?client_id=credless-client&response_type=code&state=s1&\
             redirect_uri=http%3A%2F%2Fdemo.localhost%3A8080%2Foauth2%2Fcallback",
            idp.issuer()
        );

        let at_once = http.get(&authorize).send().await.unwrap();
        assert_eq!(at_once.status(), 302, "auto-approval stays the default");

        idp.set_sign_in_page(true);
        let shown = http.get(&authorize).send().await.unwrap();
        assert_eq!(shown.status(), 200);
        let page = shown.text().await.unwrap();
        assert!(page.contains("<button type=\"submit\">Sign in</button>"));
        let form = [
            ("client_id", "credless-client"),
            ("response_type", "code"),
            ("state", "s1"),
            ("redirect_uri", "http://demo.localhost:8080/oauth2/callback"),
        ];
        let submitted = http
            .post(format!("{}/authorize", idp.issuer()))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(submitted.status(), 302);
        let location = submitted.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with("http://demo.localhost:8080/oauth2/callback?code="),
            "{location}"
        );
        assert!(location.ends_with("&state=s1"), "{location}");
        let url = url::Url::parse(&location).unwrap();
        let code = url.query_pairs().find(|(k, _)| k == "code").unwrap().1;
        assert_eq!(idp.redeem_code(&code).unwrap().user, User::demo());

        let no_client = http
            .get(format!("{}/authorize?response_type=code", idp.issuer()))
            .send()
            .await
            .unwrap();
        assert_eq!(no_client.status(), 400);
    }

    #[test]
    fn the_page_carries_the_request_over_escaped_and_names_the_user() {
        let params = HashMap::from([
            ("client_id".to_owned(), "credless-client".to_owned()),
            ("state".to_owned(), "n:/a?b=\"<x>\"&c".to_owned()),
            ("prompt".to_owned(), "none".to_owned()),
        ]);
        let page = page(&User::demo(), &params);
        assert!(page.contains("<button type=\"submit\">Sign in</button>"));
        assert!(page.contains("demo@example.com"));
        assert!(page.contains("value=\"n:/a?b=&quot;&lt;x&gt;&quot;&amp;c\""));
        assert!(!page.contains("<x>"));
        assert!(
            !page.contains("prompt"),
            "only authorize parameters are carried"
        );
    }
}
