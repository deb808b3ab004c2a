//! oauth2-proxy's cookie handling: attributes, splitting of large sessions, reading them back,
//! clearing, and its check of redirect targets.

/// The longest `Set-Cookie` value oauth2-proxy writes before it splits a session.
pub(crate) const MAX_COOKIE_LENGTH: usize = 4000;

/// Where the cookies of one proxy live.
#[derive(Debug, Clone)]
pub(crate) struct CookieJar {
    name: String,
    domain: Option<String>,
}

impl CookieJar {
    pub(crate) fn new(name: &str, domain: Option<&str>) -> Self {
        Self {
            name: name.to_owned(),
            domain: domain.map(str::to_owned),
        }
    }

    /// The CSRF cookie set by `/oauth2/start` and checked by `/oauth2/callback`.
    pub(crate) fn csrf_name(&self) -> String {
        format!("{}_csrf", self.name)
    }

    /// The `Set-Cookie` values that store `value`: one cookie, or `<name>_0`, `<name>_1`, …
    /// when a single one would be longer than [`MAX_COOKIE_LENGTH`].
    pub(crate) fn session_cookies(&self, value: &str) -> Vec<(String, String)> {
        let attributes = self.attributes();
        if self.name.len() + 1 + value.len() + attributes.len() < MAX_COOKIE_LENGTH {
            return vec![(self.name.clone(), value.to_owned())];
        }

        let mut chunks = Vec::new();
        let mut rest = value;
        while !rest.is_empty() {
            let name = format!("{}_{}", self.name, chunks.len());
            let room = MAX_COOKIE_LENGTH
                .saturating_sub(name.len() + 1 + attributes.len())
                .max(1);
            // Session values are ASCII, so any byte index is a character boundary.
            let (chunk, remainder) = rest.split_at(room.min(rest.len()));
            chunks.push((name, chunk.to_owned()));
            rest = remainder;
        }
        chunks
    }

    /// A `Set-Cookie` value for the cookie `name` holding `value`.
    pub(crate) fn set_cookie(&self, name: &str, value: &str) -> String {
        format!("{name}={value}{}", self.attributes())
    }

    /// A `Set-Cookie` value for a cookie that expires after `max_age_secs`.
    pub(crate) fn set_cookie_for(&self, name: &str, value: &str, max_age_secs: u64) -> String {
        format!(
            "{name}={value}; Max-Age={max_age_secs}{}",
            self.attributes()
        )
    }

    /// A `Set-Cookie` value that deletes the cookie `name`.
    pub(crate) fn clear_cookie(&self, name: &str) -> String {
        format!(
            "{name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{}",
            self.attributes()
        )
    }

    /// The session value in `cookies`: the plain cookie, else the chunks from `<name>_0`
    /// joined in order up to the first missing one.
    pub(crate) fn read_session(&self, cookies: &[(String, String)]) -> Option<String> {
        let find = |wanted: &str| {
            cookies
                .iter()
                .find(|(name, _)| name == wanted)
                .map(|(_, value)| value.as_str())
        };
        if let Some(value) = find(&self.name) {
            return Some(value.to_owned());
        }

        let mut joined = String::new();
        for index in 0.. {
            match find(&format!("{}_{index}", self.name)) {
                Some(chunk) => joined.push_str(chunk),
                None if index == 0 => return None,
                None => break,
            }
        }
        Some(joined)
    }

    /// The names of this proxy's session cookies present in `cookies`, and the plain name.
    pub(crate) fn session_names_present(&self, cookies: &[(String, String)]) -> Vec<String> {
        let mut names = vec![self.name.clone()];
        for (name, _) in cookies {
            let chunk = name
                .strip_prefix(self.name.as_str())
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|index| {
                    !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())
                });
            if chunk && !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    fn attributes(&self) -> String {
        match &self.domain {
            Some(domain) => format!("; Path=/; Domain={domain}; HttpOnly; Secure; SameSite=Lax"),
            None => "; Path=/; HttpOnly; Secure; SameSite=Lax".to_owned(),
        }
    }
}

/// Whether oauth2-proxy would follow `rd`: a path on the same host that starts with one `/`,
/// with no empty, `.` or `..` segment, no backslash posing as a slash, and no control
/// characters anywhere.
pub(crate) fn is_safe_redirect(rd: &str) -> bool {
    if !rd.starts_with('/') || rd.chars().any(char::is_control) {
        return false;
    }
    // Between any two slashes (either kind), only whitespace, `.` or `..` is a trick.
    let separators: Vec<usize> = rd.match_indices(['/', '\\']).map(|(at, _)| at).collect();
    !separators.windows(2).any(|pair| {
        let between = &rd[pair[0] + 1..pair[1]];
        between.trim().is_empty() || between == "." || between == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sessions_are_one_cookie() {
        let jar = CookieJar::new("_oauth2_proxy", None);
        assert_eq!(
            jar.session_cookies("abc"),
            [("_oauth2_proxy".into(), "abc".into())]
        );
    }

    #[test]
    fn large_sessions_split_into_chunks_that_fit_and_join_back() {
        let jar = CookieJar::new("_oauth2_proxy", Some("acme.example"));
        let value = "v".repeat(9000);

        let chunks = jar.session_cookies(&value);

        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].0, "_oauth2_proxy_0");
        assert_eq!(chunks[2].0, "_oauth2_proxy_2");
        for (name, chunk) in &chunks {
            assert!(jar.set_cookie(name, chunk).len() <= MAX_COOKIE_LENGTH);
        }
        assert_eq!(jar.read_session(&chunks).as_deref(), Some(value.as_str()));
    }

    #[test]
    fn reading_chunks_stops_at_the_first_gap() {
        let jar = CookieJar::new("s", None);
        let cookies = [
            ("s_0".into(), "a".into()),
            ("s_1".into(), "b".into()),
            ("s_3".into(), "d".into()),
        ];
        assert_eq!(jar.read_session(&cookies).as_deref(), Some("ab"));
        assert_eq!(jar.read_session(&[("s_1".into(), "b".into())]), None);
    }

    #[test]
    fn cookie_attributes_match_oauth2_proxy() {
        let jar = CookieJar::new("_oauth2_proxy", Some("acme.example"));
        assert_eq!(
            jar.set_cookie("_oauth2_proxy", "v"),
            "_oauth2_proxy=v; Path=/; Domain=acme.example; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn only_plain_relative_paths_are_safe_redirects() {
        for good in ["/", "/app", "/app/x?y=1#z", "/a/b.c/..d"] {
            assert!(is_safe_redirect(good), "{good}");
        }
        for bad in [
            "",
            "app",
            "//evil.example",
            "/\\evil.example",
            "/a/../b",
            "/./x",
            "/ /evil",
            "https://evil.example/",
            "/a\tb",
            "/\u{7f}x",
        ] {
            assert!(!is_safe_redirect(bad), "{bad:?}");
        }
    }
}
