//! Is every address ASTA talks on or listens on loopback or encrypted?

use std::net::IpAddr;

/// Whether `host` (a name or an IP literal, IPv6 with or without brackets) is
/// a loopback address: `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host part of a `host:port` or `[v6]:port` bind address.
pub fn bind_host(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((host, _)) if !host.contains(':') => host,
        _ => address,
    }
}

/// Why a broker URL is refused, or `None` when it is https or loopback http.
pub fn broker_url_problem(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return None;
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return Some("the broker URL must start with https:// (or http:// on loopback)".to_owned());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if is_loopback_host(bind_host(host_port)) {
        None
    } else {
        Some("plain http is allowed only on a loopback address; use https".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "0.0.0.0",
            "::",
            "10.0.0.1",
            "192.168.1.2",
            "example.com",
            "127.0.0.1.example.com",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn bind_addresses() {
        assert_eq!(bind_host("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(bind_host("[::1]:8080"), "::1");
        assert_eq!(bind_host("0.0.0.0:5000"), "0.0.0.0");
        assert_eq!(bind_host("::1"), "::1");
        assert_eq!(bind_host("localhost"), "localhost");
    }

    #[test]
    fn broker_urls() {
        assert_eq!(broker_url_problem("https://algo.example.com"), None);
        assert_eq!(broker_url_problem("http://127.0.0.1:5000"), None);
        assert_eq!(broker_url_problem("http://localhost:5000/api"), None);
        assert_eq!(broker_url_problem("http://[::1]:5000"), None);
        assert!(broker_url_problem("http://10.0.0.5:5000").is_some());
        assert!(broker_url_problem("http://127.0.0.1.evil.com").is_some());
        assert!(broker_url_problem("http://localhost@evil.com").is_some());
        assert!(broker_url_problem("ftp://127.0.0.1").is_some());
        assert!(broker_url_problem("").is_some());
    }
}
