//! What one loaded plugin may touch, resolved: the variables it may read
//! and their values, which of them are secret, and the origins it may call.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use url::Url;

use crate::config::{HttpGrant, Permissions};

/// An origin a plugin may call: a scheme, a host (or every subdomain of
/// one, written `*.example.com`) and a port (or any port, written
/// `http://127.0.0.1:*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    host: String,
    /// `*.host`: any subdomain of `host`, not `host` itself.
    subdomains: bool,
    /// None for `:*`: any port. A local server's port is rarely known in
    /// advance (a dev server, a test's free port), so a plugin such as
    /// `http` grants "any loopback port" rather than a fixed list.
    port: Option<u16>,
}

impl FromStr for OriginPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = text.split_once("://").ok_or_else(|| {
            format!("{text:?} is not an origin (write it like \"https://api.example.com\")")
        })?;
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "{text:?}: only http and https origins can be granted"
            ));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "{text:?} is not an origin: an origin is a scheme, host and port, with no path"
            ));
        }
        let (subdomains, rest) = match rest.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let (any_port, rest) = match rest.strip_suffix(":*") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let url = Url::parse(&format!("{scheme}://{rest}"))
            .map_err(|e| format!("{text:?} is not an origin: {e}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| format!("{text:?} is not an origin: it has no host"))?;
        Ok(OriginPattern {
            scheme: scheme.to_string(),
            host: host.to_string(),
            subdomains,
            port: if any_port {
                None
            } else {
                Some(url.port_or_known_default().unwrap_or(80))
            },
        })
    }
}

impl OriginPattern {
    /// The exact origin of a URL, when it has one (http and https only).
    pub fn of_url(url: &Url) -> Option<OriginPattern> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        Some(OriginPattern {
            scheme: scheme.to_string(),
            host: url.host_str()?.to_string(),
            subdomains: false,
            port: Some(url.port_or_known_default()?),
        })
    }

    /// Whether a request to `url` is inside this origin.
    pub fn allows(&self, url: &Url) -> bool {
        let Some(origin) = OriginPattern::of_url(url) else {
            return false;
        };
        let host_matches = if self.subdomains {
            origin
                .host
                .strip_suffix(&self.host)
                .is_some_and(|prefix| prefix.ends_with('.') && prefix.len() > 1)
        } else {
            origin.host == self.host
        };
        let port_matches = self.port.is_none() || origin.port == self.port;
        origin.scheme == self.scheme && port_matches && host_matches
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wildcard = if self.subdomains { "*." } else { "" };
        let default_port = if self.scheme == "https" { 443 } else { 80 };
        write!(f, "{}://{wildcard}{}", self.scheme, self.host)?;
        match self.port {
            None => write!(f, ":*"),
            Some(port) if port != default_port => write!(f, ":{port}"),
            Some(_) => Ok(()),
        }
    }
}

/// A plugin's permissions with every `$NAME` resolved and every readable
/// variable's value looked up, once, when the plugin is loaded.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    /// Readable variables (`env` and `secrets`) that have a value.
    values: BTreeMap<String, String>,
    /// Names whose values are masked.
    secrets: Vec<String>,
    /// Every readable name, set or not, for display.
    readable: Vec<String>,
    /// Origins the plugin may call, each with what granted it (the literal
    /// entry, or `$NAME`).
    origins: Vec<(OriginPattern, String)>,
}

impl Grant {
    /// Resolves `permissions`, reading variables through `lookup` (the
    /// process environment, then the workspace's `[env]`).
    pub fn resolve(
        permissions: &Permissions,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Grant, String> {
        let readable: Vec<String> = permissions
            .env
            .iter()
            .chain(&permissions.secrets)
            .cloned()
            .collect();
        let values: BTreeMap<String, String> = readable
            .iter()
            .filter_map(|name| lookup(name).map(|value| (name.clone(), value)))
            .collect();
        let mut origins = Vec::new();
        for entry in &permissions.http {
            match entry {
                HttpGrant::Origin(origin) => origins.push((origin.clone(), entry.to_string())),
                HttpGrant::Variable(name) => {
                    if !readable.contains(name) {
                        return Err(format!(
                            "\"${name}\" grants the origin in {name}, which the plugin may not read"
                        ));
                    }
                    // Unset, the plugin's documented default (a literal
                    // entry beside this one) applies.
                    let Some(value) = values.get(name) else {
                        continue;
                    };
                    let origin = Url::parse(value)
                        .ok()
                        .as_ref()
                        .and_then(OriginPattern::of_url)
                        .ok_or_else(|| {
                            format!(
                                "{name}={value:?} is not an http(s) URL, so \"${name}\" grants nothing"
                            )
                        })?;
                    origins.push((origin, entry.to_string()));
                }
            }
        }
        Ok(Grant {
            values,
            secrets: permissions.secrets.clone(),
            readable,
            origins,
        })
    }

    /// The value of a variable the plugin may read, or none, exactly as if
    /// any other variable were unset.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether `name` is a secret (its value is masked wherever it appears).
    pub fn is_secret(&self, name: &str) -> bool {
        self.secrets.iter().any(|s| s == name)
    }

    /// Whether the plugin may call `url`.
    pub fn allows(&self, url: &Url) -> bool {
        self.origins.iter().any(|(origin, _)| origin.allows(url))
    }

    /// The variables the plugin may read, secret or not.
    pub fn readable(&self) -> &[String] {
        &self.readable
    }

    /// The variables whose values are masked.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// The origins the plugin may call, each with the entry that granted it.
    pub fn origins(&self) -> impl Iterator<Item = (&OriginPattern, &str)> {
        self.origins.iter().map(|(o, from)| (o, from.as_str()))
    }
}

/// Replaces every secret value in `text` with `•••`.
pub fn mask(text: &mut String, secrets: &[String]) {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if text.contains(secret.as_str()) {
            *text = text.replace(secret.as_str(), "•••");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn exact_origin_matches_scheme_host_and_port() {
        let origin: OriginPattern = "http://127.0.0.1:9090".parse().unwrap();
        assert!(origin.allows(&url("http://127.0.0.1:9090/api/v1/query?q=up")));
        assert!(!origin.allows(&url("http://127.0.0.1:9091/")));
        assert!(!origin.allows(&url("https://127.0.0.1:9090/")));
        assert!(!origin.allows(&url("http://localhost:9090/")));
    }

    #[test]
    fn default_ports_are_implied() {
        let origin: OriginPattern = "https://api.example.com".parse().unwrap();
        assert!(origin.allows(&url("https://api.example.com:443/x")));
        assert!(!origin.allows(&url("http://api.example.com/x")));
        assert_eq!(origin.to_string(), "https://api.example.com");
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let origin: OriginPattern = "https://*.example.com".parse().unwrap();
        assert!(origin.allows(&url("https://a.example.com/")));
        assert!(origin.allows(&url("https://a.b.example.com/")));
        assert!(!origin.allows(&url("https://example.com/")));
        assert!(!origin.allows(&url("https://badexample.com/")));
        assert_eq!(origin.to_string(), "https://*.example.com");
    }

    #[test]
    fn port_wildcard_matches_every_port_of_that_scheme_and_host() {
        let origin: OriginPattern = "http://127.0.0.1:*".parse().unwrap();
        assert!(origin.allows(&url("http://127.0.0.1:9090/metrics")));
        assert!(origin.allows(&url("http://127.0.0.1:41234/")));
        assert!(origin.allows(&url("http://127.0.0.1/")));
        assert!(!origin.allows(&url("https://127.0.0.1:9090/")));
        assert!(!origin.allows(&url("http://127.0.0.2:9090/")));
        assert!(!origin.allows(&url("http://localhost:9090/")));
        assert_eq!(origin.to_string(), "http://127.0.0.1:*");

        let ipv6: OriginPattern = "http://[::1]:*".parse().unwrap();
        assert!(ipv6.allows(&url("http://[::1]:8080/")));
        assert_eq!(ipv6.to_string(), "http://[::1]:*");

        let both: OriginPattern = "https://*.example.com:*".parse().unwrap();
        assert!(both.allows(&url("https://a.example.com:8443/")));
        assert!(!both.allows(&url("https://example.com:8443/")));
    }

    #[test]
    fn malformed_origins_are_refused() {
        for text in [
            "example.com",
            "ftp://example.com",
            "http://a/b",
            "http://",
            "http://u@h",
            "http://h:*/path",
            "http://h:x",
        ] {
            assert!(
                text.parse::<OriginPattern>().is_err(),
                "{text} was accepted"
            );
        }
    }

    fn permissions(http: &[&str]) -> Permissions {
        Permissions {
            env: vec!["URL".into()],
            secrets: vec!["TOKEN".into()],
            http: http
                .iter()
                .map(|e| match e.strip_prefix('$') {
                    Some(name) => HttpGrant::Variable(name.into()),
                    None => HttpGrant::Origin(e.parse().unwrap()),
                })
                .collect(),
        }
    }

    #[test]
    fn variable_origin_follows_the_variable() {
        let p = permissions(&["$URL", "http://127.0.0.1:9090"]);
        let grant = Grant::resolve(&p, |name| {
            (name == "URL").then(|| "http://127.0.0.1:7777/prefix".to_string())
        })
        .unwrap();
        assert!(grant.allows(&url("http://127.0.0.1:7777/api")));
        assert!(grant.allows(&url("http://127.0.0.1:9090/api")));
        let unset = Grant::resolve(&p, |_| None).unwrap();
        assert!(!unset.allows(&url("http://127.0.0.1:7777/api")));
        assert!(unset.allows(&url("http://127.0.0.1:9090/api")));
    }

    #[test]
    fn only_listed_variables_are_readable() {
        let grant =
            Grant::resolve(&permissions(&[]), |name| Some(format!("{name}-value"))).unwrap();
        assert_eq!(grant.env("URL"), Some("URL-value"));
        assert_eq!(grant.env("TOKEN"), Some("TOKEN-value"));
        assert_eq!(grant.env("HOME"), None);
        assert!(grant.is_secret("TOKEN") && !grant.is_secret("URL"));
    }

    #[test]
    fn masking_replaces_every_occurrence() {
        let mut text = "token=s3cret and again s3cret".to_string();
        mask(&mut text, &["s3cret".into(), String::new()]);
        assert_eq!(text, "token=••• and again •••");
    }
}
