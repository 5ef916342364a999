//! Who a user is at an external OpenID Connect provider: the provider's `issuer` and the
//! `subject` it gives the person. An administrator links the pair to one Linkwell user; a token
//! from that provider for that subject then acts as the user, with the user's role and
//! organisation (never the provider's claims).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Invalid;
use crate::text::TextRule;

/// The longest issuer URL accepted, in characters.
pub const ISSUER_MAX_CHARS: usize = 255;

/// A person signs in through one or two providers (a smartcard and a tenant, say); a bound
/// keeps the list of a user's links a short answer.
pub const MAX_PER_USER: usize = 10;

/// A subject: one line of 1 to 255 characters (OpenID Connect Core §2 bounds it by 255 ASCII
/// characters), compared exactly, so never trimmed.
pub const SUBJECT: TextRule = TextRule::line(255);

/// A provider's issuer identifier (OpenID Connect Core §2): an https URL with no query or
/// fragment, compared exactly as written; http only for a loopback host (a provider on the
/// same machine, as in tests).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid::new(
                "issuer_format",
                format!(
                    "must be the provider's issuer: an https URL of at most {ISSUER_MAX_CHARS} \
                     characters with no query or fragment (http only for localhost)"
                ),
            )
        };
        if input.chars().count() > ISSUER_MAX_CHARS
            || input.contains(['?', '#'])
            || input.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad());
        }
        https_or_loopback(input).map_err(|_| bad())?;
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A provider's subject for a person, exactly as its tokens carry it.
pub fn subject(input: &str) -> Result<String, Invalid> {
    let trimmed = SUBJECT.parse(input)?;
    if trimmed != input {
        return Err(Invalid::new(
            "subject_whitespace",
            "must not start or end with whitespace: subjects are compared exactly",
        ));
    }
    Ok(trimmed)
}

/// Checks that `url` is https, or http to a loopback host; a host is required and user info
/// (`user@host`) refused. Providers publish their keys over https: plain http would let anyone
/// on the path swap the keys that decide who signs in.
pub fn https_or_loopback(url: &str) -> Result<(), Invalid> {
    let (secure, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        _ => return Err(Invalid::new("url_scheme", "must be an https URL")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') || host_of(authority).is_empty() || !port_ok(authority) {
        return Err(Invalid::new("url_host", "must name a host"));
    }
    if secure || is_loopback(host_of(authority)) {
        Ok(())
    } else {
        Err(Invalid::new(
            "url_scheme",
            "must be https (http only for localhost)",
        ))
    }
}

/// The host of an authority (`host:port`, `[::1]:port`).
fn host_of(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// A port, when given, is 1 to 5 digits.
fn port_ok(authority: &str) -> bool {
    let after_host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, rest)| rest),
        None => authority.find(':').map_or("", |i| &authority[i..]),
    };
    match after_host.strip_prefix(':') {
        None => after_host.is_empty(),
        Some(port) => (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A link between a provider's subject and a Linkwell user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIdentity {
    pub id: Uuid,
    pub user_id: Uuid,
    pub issuer: Issuer,
    pub subject: String,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_https_or_loopback_http_without_query_or_fragment() {
        for ok in [
            "https://login.microsoftonline.com/tenant/v2.0",
            "https://am.nhsidentity.spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/oidc",
            "http://127.0.0.1:8080/realms/linkwell",
            "http://localhost:9000",
            "http://[::1]:9000/",
        ] {
            assert_eq!(Issuer::parse(ok).map(|i| i.0), Ok(ok.to_owned()), "{ok}");
        }
        for bad in [
            "http://idp.example.org",
            "http://127.0.0.1.example.org",
            "ftp://idp.example.org",
            "https://",
            "https://:443/x",
            "https://idp.example.org:https/x",
            "https://idp.example.org:/x",
            "https://user@idp.example.org",
            "https://idp.example.org/?tenant=1",
            "https://idp.example.org/#x",
            " https://idp.example.org",
            "idp.example.org",
            "",
        ] {
            assert_eq!(
                Issuer::parse(bad).map_err(|e| e.code),
                Err("issuer_format"),
                "{bad}"
            );
        }
        let long = format!("https://idp.example.org/{}", "a".repeat(ISSUER_MAX_CHARS));
        assert!(Issuer::parse(&long).is_err());
    }

    #[test]
    fn subjects_are_one_exact_line_of_at_most_255_characters() {
        assert_eq!(subject("248289761001"), Ok("248289761001".to_owned()));
        assert_eq!(subject("").map_err(|e| e.code), Err("blank"));
        assert_eq!(
            subject("a\u{0}b").map_err(|e| e.code),
            Err("control_characters")
        );
        assert_eq!(subject(" a").map_err(|e| e.code), Err("subject_whitespace"));
        assert!(subject(&"a".repeat(255)).is_ok());
        assert_eq!(
            subject(&"a".repeat(256)).map_err(|e| e.code),
            Err("too_long")
        );
    }
}
