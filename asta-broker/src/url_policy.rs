//! Which URLs the HTTP adapters may talk to.

use std::net::IpAddr;

use reqwest::Url;

/// Why a URL is refused. Never contains the URL itself (it may embed a token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlRefusal {
    /// Not a URL at all.
    Unparseable,
    /// A scheme other than https (or http on loopback).
    Scheme,
    /// http to a host that is not loopback.
    PlainHttpNotLoopback,
    /// Credentials in the URL.
    Credentials,
    /// A query or fragment where none belongs.
    QueryOrFragment,
}

impl UrlRefusal {
    pub(crate) fn explain(self) -> &'static str {
        match self {
            Self::Unparseable => "the URL could not be parsed",
            Self::Scheme => "the URL scheme must be https (or http on a loopback address)",
            Self::PlainHttpNotLoopback => {
                "plain http is allowed only to a loopback address (127.0.0.0/8, ::1, localhost); use https"
            }
            Self::Credentials => "the URL must not contain a user name or password",
            Self::QueryOrFragment => "the URL must not contain a query or fragment",
        }
    }
}

/// Whether the URL's host is a loopback address or `localhost`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// Parses `text` and applies the policy: https anywhere; http only when
/// `allow_http_loopback` and the host is loopback; no credentials;
/// no query or fragment unless `allow_query` (webhook URLs carry tokens there).
pub(crate) fn checked_url(
    text: &str,
    allow_http_loopback: bool,
    allow_query: bool,
) -> Result<Url, UrlRefusal> {
    let url = Url::parse(text).map_err(|_| UrlRefusal::Unparseable)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Credentials);
    }
    if !allow_query && (url.query().is_some() || url.fragment().is_some()) {
        return Err(UrlRefusal::QueryOrFragment);
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => {
            if allow_http_loopback {
                Ok(url)
            } else {
                Err(UrlRefusal::PlainHttpNotLoopback)
            }
        }
        "http" => Err(UrlRefusal::PlainHttpNotLoopback),
        _ => Err(UrlRefusal::Scheme),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        for ok in [
            "https://openalgo.example.com",
            "http://127.0.0.1:5000",
            "http://127.9.8.7:5000/",
            "http://[::1]:5000",
            "http://localhost:5000",
            "http://LOCALHOST:5000",
        ] {
            assert!(checked_url(ok, true, false).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://10.0.0.1:5000", UrlRefusal::PlainHttpNotLoopback),
            ("http://192.168.1.2", UrlRefusal::PlainHttpNotLoopback),
            ("http://example.com", UrlRefusal::PlainHttpNotLoopback),
            (
                "http://localhost.evil.com",
                UrlRefusal::PlainHttpNotLoopback,
            ),
            ("http://127.0.0.1.nip.io", UrlRefusal::PlainHttpNotLoopback),
            ("http://0.0.0.0:5000", UrlRefusal::PlainHttpNotLoopback),
            ("ftp://127.0.0.1", UrlRefusal::Scheme),
            ("https://u:p@example.com", UrlRefusal::Credentials),
            ("https://example.com/?apikey=x", UrlRefusal::QueryOrFragment),
            ("not a url", UrlRefusal::Unparseable),
        ] {
            assert_eq!(checked_url(bad, true, false), Err(why), "{bad}");
        }
        assert_eq!(
            checked_url("http://127.0.0.1", false, false),
            Err(UrlRefusal::PlainHttpNotLoopback)
        );
    }
}
