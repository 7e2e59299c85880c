//! Web origins (`scheme://host[:port]`) that a client registers in
//! `allowed_origins` and `web_origins`, and the set of them a request's
//! `Origin` header is checked against.
//!
//! As in Auth0, one `*` may stand for one subdomain label, in the label
//! furthest from the root, possibly with a prefix and suffix
//! (`https://*.example.com`, `https://pr-*-preview.example.com`): it matches
//! exactly one label, never `a.b.example.com`, and not a bare `*.com`.

use std::collections::HashSet;

use super::{ValidationError, is_loopback_host};

/// Checks one registered origin: http(s), no credentials, path, query or
/// fragment (not even a trailing `/`: the browser's `Origin` never has one,
/// and Auth0's match fails on it), https unless the host is loopback, and a
/// wildcard only as Auth0 allows it.
pub fn check_origin(field: &str, value: &str) -> Result<(), ValidationError> {
    OriginPattern::parse(value)
        .map(|_| ())
        .map_err(|reason| ValidationError::new(field, reason))
}

/// A parsed registered origin.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OriginPattern {
    /// The ASCII serialization of the origin (`https://app.example.com`,
    /// default port left out), as a browser sends it.
    Exact(String),
    Wildcard(WildcardOrigin),
}

/// `scheme://{prefix}*{suffix}:port`, where `suffix` holds the rest of the
/// first label and every label after it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WildcardOrigin {
    scheme: String,
    prefix: String,
    suffix: String,
    port: u16,
}

impl WildcardOrigin {
    fn matches(&self, origin: &url::Url) -> bool {
        let Some(host) = origin.host_str() else {
            return false;
        };
        origin.scheme() == self.scheme
            && origin.port_or_known_default() == Some(self.port)
            && host.len() > self.prefix.len() + self.suffix.len()
            && host.starts_with(&self.prefix)
            && host.ends_with(&self.suffix)
            && !host[self.prefix.len()..host.len() - self.suffix.len()].contains('.')
    }
}

impl OriginPattern {
    fn parse(value: &str) -> Result<Self, &'static str> {
        let (_, rest) = value
            .split_once("://")
            .ok_or("must be an origin: scheme://host[:port]")?;
        if rest.contains(['/', '?', '#', '@', '\\']) {
            return Err(
                "must be an origin (scheme://host[:port]) without path, query, fragment or credentials",
            );
        }
        let url = url::Url::parse(value).map_err(|_| "must be an origin: scheme://host[:port]")?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&url) => {}
            "http" => return Err("must be https (plain http only on loopback hosts)"),
            _ => return Err("must be an http(s) origin"),
        }
        let (Some(url::Host::Domain(host)), Some(port)) = (url.host(), url.port_or_known_default())
        else {
            return match url.host_str() {
                Some(host) if !host.contains('*') => {
                    Ok(Self::Exact(url.origin().ascii_serialization()))
                }
                _ => Err("must be an origin: scheme://host[:port]"),
            };
        };
        let Some((prefix, suffix)) = host.split_once('*') else {
            return Ok(Self::Exact(url.origin().ascii_serialization()));
        };
        if prefix.contains('.') || suffix.contains('*') {
            return Err(
                "may have one wildcard, in its leftmost label only (https://*.example.com)",
            );
        }
        // The labels after the wildcard's: at least a domain and its TLD.
        let Some((_, parent)) = suffix.split_once('.') else {
            return Err("may have a wildcard only in a subdomain (https://*.example.com)");
        };
        if !parent.contains('.') || parent.split('.').any(str::is_empty) {
            return Err("may have a wildcard only in a subdomain (https://*.example.com)");
        }
        Ok(Self::Wildcard(WildcardOrigin {
            scheme: url.scheme().to_owned(),
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            port,
        }))
    }
}

/// The origins a set of registrations allows. Entries that are not valid
/// origins (stored before origins were checked) allow nothing.
#[derive(Debug, Clone, Default)]
pub struct OriginSet {
    exact: HashSet<String>,
    wildcards: Vec<WildcardOrigin>,
}

impl OriginSet {
    /// Adds registered origins (`allowed_origins`, `web_origins`).
    pub fn add_origins<'a>(&mut self, entries: impl IntoIterator<Item = &'a String>) {
        for entry in entries {
            match OriginPattern::parse(entry) {
                Ok(OriginPattern::Exact(origin)) => {
                    self.exact.insert(origin);
                }
                Ok(OriginPattern::Wildcard(wildcard)) => self.wildcards.push(wildcard),
                Err(_) => {}
            }
        }
    }

    /// Adds the origins of callback URLs (Auth0: "by default, all your
    /// callback URLs will be allowed"); private-use schemes have none.
    pub fn add_callback_origins<'a>(&mut self, callbacks: impl IntoIterator<Item = &'a String>) {
        for callback in callbacks {
            if let Ok(url) = url::Url::parse(callback) {
                if matches!(url.scheme(), "https" | "http") && url.has_host() {
                    self.exact.insert(url.origin().ascii_serialization());
                }
            }
        }
    }

    /// Whether the value of a request's `Origin` header is in the set.
    pub fn allows(&self, origin: &str) -> bool {
        let Ok(url) = url::Url::parse(origin) else {
            return false;
        };
        if !matches!(url.scheme(), "https" | "http") {
            return false;
        }
        self.exact.contains(&url.origin().ascii_serialization())
            || self.wildcards.iter().any(|w| w.matches(&url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in [
            "https://app.example.com",
            "https://app.example.com:8443",
            "http://localhost:3000",
            "http://127.0.0.1:5173",
            "http://[::1]:8080",
            "https://*.example.com",
            "https://pr-*-preview.example.com",
            "https://*.example.co.uk:8443",
        ] {
            assert_eq!(check_origin("o", good), Ok(()), "{good}");
        }
        for bad in [
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://app.example.com?q=1",
            "https://app.example.com#f",
            "https://user@app.example.com",
            "http://app.example.com",
            "ftp://app.example.com",
            "app.example.com",
            "https://",
            "*",
            "https://*.com",
            "https://*",
            "https://sub.*.example.com",
            "https://*.*.example.com",
            "https://a*b*.example.com",
            "https://*.example..com",
            "https://app.example.com:*",
            "null",
        ] {
            assert!(check_origin("o", bad).is_err(), "{bad}");
        }
    }

    fn set(entries: &[&str]) -> OriginSet {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        let mut set = OriginSet::default();
        set.add_origins(&entries);
        set
    }

    #[test]
    fn exact_origins_match_as_browsers_send_them() {
        let set = set(&["https://App.Example.com:443", "http://localhost:3000"]);
        assert!(set.allows("https://app.example.com"));
        assert!(set.allows("http://localhost:3000"));
        assert!(!set.allows("http://localhost:3001"));
        assert!(!set.allows("http://app.example.com"));
        assert!(!set.allows("https://app.example.com.evil.test"));
        assert!(!set.allows("null"));
        assert!(!set.allows(""));
    }

    #[test]
    fn a_wildcard_matches_one_label_only() {
        let set = set(&["https://*.example.com", "https://pr-*-x.acme.test"]);
        assert!(set.allows("https://a.example.com"));
        assert!(set.allows("https://a-b.example.com"));
        assert!(!set.allows("https://example.com"));
        assert!(!set.allows("https://.example.com"));
        assert!(!set.allows("https://a.b.example.com"));
        assert!(!set.allows("http://a.example.com"));
        assert!(!set.allows("https://a.example.com:8443"));
        assert!(!set.allows("https://evilexample.com"));
        assert!(set.allows("https://pr-12-x.acme.test"));
        assert!(!set.allows("https://pr--x.acme.test"));
        assert!(!set.allows("https://pr-1.2-x.acme.test"));
    }

    #[test]
    fn callbacks_register_their_origin() {
        let callbacks = vec![
            "https://app.example.com/callback?x=1".to_owned(),
            "com.example.app:/callback".to_owned(),
        ];
        let mut set = OriginSet::default();
        set.add_callback_origins(&callbacks);
        assert!(set.allows("https://app.example.com"));
        assert!(!set.allows("com.example.app:"));
    }
}
