//! The HTTP endpoints of the fake oauth2-proxy.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value, json};
use url::Url;
use wiremock::{Request, Respond, ResponseTemplate};

use super::{ProxyMode, ProxyState, Session};
use crate::User;
use crate::cookies::is_safe_redirect;
use crate::keys::{random_bytes, random_token};
use crate::recording::{RecordedRequest, lock, query_param, request_cookies};

/// Where [`ProxyMode::Redirect`] sends everyone.
const FOLLOWED_REDIRECT_PATH: &str = "/__followed_redirect";

/// How long the CSRF cookie lives, as oauth2-proxy's `--cookie-csrf-expire` default.
const CSRF_MAX_AGE_SECS: u64 = 15 * 60;

/// Answers every request to the proxy's server.
pub(super) struct ProxyResponder {
    state: Arc<ProxyState>,
}

impl ProxyResponder {
    pub(super) fn new(state: Arc<ProxyState>) -> Self {
        Self { state }
    }
}

impl Respond for ProxyResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = &self.state;
        lock(&state.requests).push(RecordedRequest::from_request(request));
        let path = request.url.path();
        if path == "/oauth2/auth" {
            state.auth_calls.fetch_add(1, Ordering::SeqCst);
        }
        if path == FOLLOWED_REDIRECT_PATH {
            let user = User::demo();
            let id_token = state.provider.id_token_for(&user, &state.options.client_id);
            return identity_response(&Session { user, id_token });
        }

        let mode = *lock(&state.mode);
        match mode {
            ProxyMode::Normal => state.route(request),
            ProxyMode::Hang(delay) => state.route(request).set_delay(delay),
            ProxyMode::Unavailable503 => ResponseTemplate::new(503),
            ProxyMode::Garbage => ResponseTemplate::new(200)
                .insert_header("authorization", "Bearer not-a-jwt")
                .set_body_raw(random_bytes(512), "application/octet-stream"),
            ProxyMode::Redirect => ResponseTemplate::new(302)
                .insert_header("location", format!("{}{FOLLOWED_REDIRECT_PATH}", state.url)),
            ProxyMode::AcceptWithoutIdentity => ResponseTemplate::new(202),
            ProxyMode::Status(status) if (100..=999).contains(&status) => {
                ResponseTemplate::new(status)
            }
            ProxyMode::Status(_) => ResponseTemplate::new(500),
        }
    }
}

impl ProxyState {
    fn route(&self, request: &Request) -> ResponseTemplate {
        let method = request.method.as_str();
        match (method, request.url.path()) {
            ("GET", "/oauth2/start") => self.start(request),
            ("GET", "/oauth2/callback") => self.callback(request),
            ("GET", "/oauth2/sign_in") => self.sign_in_page(request),
            ("GET" | "POST", "/oauth2/sign_out") => self.sign_out(request),
            (_, "/oauth2/auth") => self.auth(request),
            ("GET", "/oauth2/userinfo") => self.userinfo(request),
            _ => ResponseTemplate::new(404).set_body_string("404 page not found"),
        }
    }

    /// Sends the browser to the IdP with a CSRF cookie and a state carrying `rd`.
    fn start(&self, request: &Request) -> ResponseTemplate {
        let rd = redirect_target(request);
        let nonce = random_token(16);
        let csrf = random_token(24);
        lock(&self.csrf).insert(csrf.clone(), nonce.clone());

        let mut authorize = match Url::parse(&format!("{}/authorize", self.provider.issuer())) {
            Ok(url) => url,
            Err(_) => return ResponseTemplate::new(500),
        };
        authorize
            .query_pairs_mut()
            .append_pair("client_id", &self.options.client_id)
            .append_pair("redirect_uri", &self.callback_url(request))
            .append_pair("response_type", "code")
            .append_pair("scope", "openid email profile groups")
            .append_pair("state", &format!("{nonce}:{rd}"));

        let csrf_cookie = self
            .jar
            .set_cookie_for(&self.jar.csrf_name(), &csrf, CSRF_MAX_AGE_SECS);
        ResponseTemplate::new(302)
            .insert_header("location", authorize.as_str())
            .append_header("set-cookie", csrf_cookie)
    }

    /// Where the IdP must send the browser back: the public address when a reverse proxy
    /// names one in `X-Forwarded-Proto` and `X-Forwarded-Host`, else the proxy's own.
    fn callback_url(&self, request: &Request) -> String {
        let forwarded = |name: &str| {
            let value = request.headers.get(name)?.to_str().ok()?;
            let first = value.split(',').next()?.trim();
            (!first.is_empty()).then(|| first.to_owned())
        };
        let own = Url::parse(&self.url).ok();
        let scheme = forwarded("x-forwarded-proto")
            .or_else(|| own.as_ref().map(|url| url.scheme().to_owned()))
            .unwrap_or_else(|| "http".to_owned());
        let host = forwarded("x-forwarded-host").unwrap_or_else(|| {
            self.url
                .split_once("://")
                .map_or("", |(_, host)| host)
                .to_owned()
        });
        format!("{scheme}://{host}/oauth2/callback")
    }

    /// Redeems the code, checks the CSRF cookie against the state, starts the session.
    fn callback(&self, request: &Request) -> ResponseTemplate {
        if query_param(request, "error").is_some() {
            return html(
                403,
                "Login Failed: the identity provider refused the login.",
            );
        }
        let (Some(code), Some(state)) =
            (query_param(request, "code"), query_param(request, "state"))
        else {
            return html(400, "Bad Request: missing code or state.");
        };
        let Some((nonce, rd)) = state.split_once(':') else {
            return html(500, "Internal Error: invalid state.");
        };

        let cookies = request_cookies(request);
        let csrf_name = self.jar.csrf_name();
        let csrf = cookies
            .iter()
            .find(|(name, _)| *name == csrf_name)
            .map(|(_, value)| value);
        let vouched = csrf.and_then(|value| lock(&self.csrf).remove(value));
        if self.options.enforce_csrf && vouched.as_deref() != Some(nonce) {
            return html(
                403,
                "Login Failed: Unable to find a valid CSRF token. Please try again.",
            );
        }

        let Some(redeemed) = self.provider.redeem_code(&code) else {
            return html(500, "Internal Error: the code could not be redeemed.");
        };
        let value = self.store_session(Session {
            user: redeemed.user,
            id_token: redeemed.id_token,
        });

        let rd = if is_safe_redirect(rd) { rd } else { "/" };
        let mut response = ResponseTemplate::new(302)
            .insert_header("location", rd)
            .append_header("set-cookie", self.jar.clear_cookie(&csrf_name));
        for (name, chunk) in self.jar.session_cookies(&value) {
            response = response.append_header("set-cookie", self.jar.set_cookie(&name, &chunk));
        }
        response
    }

    fn sign_in_page(&self, request: &Request) -> ResponseTemplate {
        let rd = redirect_target(request);
        let start: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("rd", &rd)
            .finish();
        let page = format!(
            "<!DOCTYPE html>\n<html><head><title>Sign In</title></head><body>\n\
             <a class=\"button\" href=\"/oauth2/start?{start}\">Sign in with OpenID Connect</a>\n\
             </body></html>\n"
        );
        ResponseTemplate::new(200).set_body_raw(page, "text/html; charset=utf-8")
    }

    /// Ends the session, clears its cookies and sends the browser to `rd`.
    fn sign_out(&self, request: &Request) -> ResponseTemplate {
        let cookies = request_cookies(request);
        if let Some(value) = self.jar.read_session(&cookies) {
            lock(&self.sessions).remove(&value);
        }

        let mut response =
            ResponseTemplate::new(302).insert_header("location", redirect_target(request));
        for name in self.jar.session_names_present(&cookies) {
            response = response.append_header("set-cookie", self.jar.clear_cookie(&name));
        }
        response
    }

    /// `202` with identity for a session the query's constraints allow, `401` without one,
    /// `403` when a constraint fails.
    fn auth(&self, request: &Request) -> ResponseTemplate {
        let cookies = request_cookies(request);
        let Some(value) = self.jar.read_session(&cookies) else {
            return ResponseTemplate::new(401);
        };
        let Some(mut session) = lock(&self.sessions).get(&value).cloned() else {
            // A dead session: the real proxy answers 401 and clears the cookie.
            let mut response = ResponseTemplate::new(401);
            for name in self.jar.session_names_present(&cookies) {
                response = response.append_header("set-cookie", self.jar.clear_cookie(&name));
            }
            return response;
        };
        if !allowed(request, &session.user) {
            return ResponseTemplate::new(403);
        }

        let mut refreshed = None;
        if self.refresh.load(Ordering::SeqCst) {
            session.id_token = self
                .provider
                .id_token_for(&session.user, &self.options.client_id);
            refreshed = Some(self.store_session(session.clone()));
        }
        if let Some(token) = lock(&self.id_token_override).clone() {
            session.id_token = token;
        }

        let mut response = identity_response(&session);
        if let Some(value) = refreshed {
            for (name, chunk) in self.jar.session_cookies(&value) {
                response = response.append_header("set-cookie", self.jar.set_cookie(&name, &chunk));
            }
        }
        response
    }

    fn userinfo(&self, request: &Request) -> ResponseTemplate {
        let cookies = request_cookies(request);
        let session = self
            .jar
            .read_session(&cookies)
            .and_then(|value| lock(&self.sessions).get(&value).cloned());
        let Some(Session { user, .. }) = session else {
            return ResponseTemplate::new(401);
        };

        let mut body = Map::new();
        body.insert("user".into(), json!(user.sub));
        body.insert("email".into(), json!(user.email));
        if !user.groups.is_empty() {
            body.insert("groups".into(), json!(user.groups));
        }
        if !user.preferred_username.is_empty() {
            body.insert("preferredUsername".into(), json!(user.preferred_username));
        }
        ResponseTemplate::new(200).set_body_json(Value::Object(body))
    }
}

/// The `202` of `/oauth2/auth` for `session`; empty claims become absent headers.
fn identity_response(session: &Session) -> ResponseTemplate {
    let user = &session.user;
    let groups = user.groups.join(",");
    let gap_auth = if user.email.is_empty() {
        &user.sub
    } else {
        &user.email
    };
    let headers = [
        ("x-auth-request-user", user.sub.as_str()),
        ("x-auth-request-email", user.email.as_str()),
        (
            "x-auth-request-preferred-username",
            user.preferred_username.as_str(),
        ),
        ("x-auth-request-groups", groups.as_str()),
        ("gap-auth", gap_auth.as_str()),
    ];

    let mut response = ResponseTemplate::new(202);
    for (name, value) in headers {
        if !value.is_empty() && is_header_safe(value) {
            response = response.insert_header(name, value);
        }
    }
    let bearer = format!("Bearer {}", session.id_token);
    if is_header_safe(&bearer) {
        response = response.insert_header("authorization", bearer);
    }
    response
}

/// Whether the user passes `allowed_groups`, `allowed_emails` and `allowed_email_domains`:
/// each present constraint must match at least one of its comma-separated, repeatable values.
fn allowed(request: &Request, user: &User) -> bool {
    let values = |name: &str| -> Option<Vec<String>> {
        let found: Vec<String> = request
            .url
            .query_pairs()
            .filter(|(key, _)| key == name)
            .flat_map(|(_, value)| {
                value
                    .split(',')
                    .map(str::trim)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|value| !value.is_empty())
            .collect();
        (!found.is_empty()).then_some(found)
    };
    let domain = user.email.rsplit_once('@').map_or("", |(_, domain)| domain);

    let groups_ok = values("allowed_groups")
        .is_none_or(|allowed| allowed.iter().any(|group| user.groups.contains(group)));
    let emails_ok = values("allowed_emails").is_none_or(|allowed| {
        allowed
            .iter()
            .any(|email| email.eq_ignore_ascii_case(&user.email))
    });
    let domains_ok = values("allowed_email_domains").is_none_or(|allowed| {
        allowed
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(domain))
    });
    groups_ok && emails_ok && domains_ok
}

/// The `rd` query parameter, else `X-Auth-Request-Redirect`, if it is safe; else `/`.
fn redirect_target(request: &Request) -> String {
    let header = || {
        let value = request.headers.get("x-auth-request-redirect")?;
        value.to_str().ok().map(str::to_owned)
    };
    query_param(request, "rd")
        .or_else(header)
        .filter(|rd| is_safe_redirect(rd))
        .unwrap_or_else(|| "/".to_owned())
}

fn html(status: u16, message: &str) -> ResponseTemplate {
    let page = format!("<!DOCTYPE html>\n<html><body><p>{message}</p></body></html>\n");
    ResponseTemplate::new(status).set_body_raw(page, "text/html; charset=utf-8")
}

/// Whether `value` can be sent as a header value as is: visible ASCII, spaces and tabs.
fn is_header_safe(value: &str) -> bool {
    value
        .bytes()
        .all(|byte| byte == b'\t' || (b' '..=b'~').contains(&byte))
}
