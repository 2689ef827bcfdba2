//! The `Host` check, against DNS rebinding: a web page whose name an attacker re-points at
//! 127.0.0.1 makes the victim's browser call this daemon with `Host: attacker.example`. Every
//! request must name this daemon: the host of `public_url`, the host of `listen`, `localhost`, or
//! an IP address literal (rebinding needs a name, so an address is always safe). Ports are not
//! compared: a reverse proxy may forward its own. A request without `Host` is refused as well.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::error::Error;

/// The host names this daemon answers to (lower-case, without port).
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    names: Vec<String>,
}

impl AllowedHosts {
    /// The names of `public_url` and `listen`, and `localhost`.
    pub fn new(public_url: &str, listen: std::net::SocketAddr) -> AllowedHosts {
        let mut names = vec!["localhost".to_string(), listen.ip().to_string()];
        let authority = public_url.split_once("://").map_or(public_url, |(_, rest)| rest);
        let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        names.push(host_name(authority).to_string());
        names.retain(|n| !n.is_empty());
        names.dedup();
        AllowedHosts { names }
    }

    /// Whether a `Host` header value names this daemon.
    pub fn allows(&self, host: &str) -> bool {
        let name = host_name(host.trim());
        if name.is_empty() {
            return false;
        }
        let literal = name.trim_start_matches('[').trim_end_matches(']');
        literal.parse::<std::net::IpAddr>().is_ok() || self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// `host[:port]` or `[v6]:port` -> the host part, lower-case as given.
fn host_name(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split_once(']').map_or(authority, |(v6, _)| &authority[..v6.len() + 1]);
    }
    authority.split_once(':').map_or(authority, |(name, _)| name).trim_end_matches('.')
}

/// The middleware: 421 Misdirected Request for a `Host` that does not name this daemon.
pub async fn check(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    let host = host.or_else(|| request.uri().host());
    match host {
        Some(host) if state.hosts.allows(host) => next.run(request).await,
        Some(_) => Error::new(
            StatusCode::MISDIRECTED_REQUEST,
            "unknown_host",
            "the Host header does not name this daemon: call it by the host of `public_url` (or an IP \
             address), and set `public_url` to the name a reverse proxy forwards",
        )
        .into_response(),
        None => Error::new(
            StatusCode::BAD_REQUEST,
            "missing_host",
            "the request has no Host header: send one naming this daemon (HTTP/1.1 requires it)",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_public_url_listen_and_addresses_pass_others_do_not() {
        let hosts = AllowedHosts::new("https://Leads.Example.com/base", "0.0.0.0:8080".parse().unwrap());
        for good in
            ["leads.example.com", "LEADS.example.com:443", "localhost:8080", "127.0.0.1:9", "[::1]:8080", "10.0.0.7"]
        {
            assert!(hosts.allows(good), "{good}");
        }
        for bad in ["attacker.example", "attacker.example:8080", "leads.example.com.attacker.example", "", ":80"] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        let bare = AllowedHosts::new("http://user:pw@q.example:8080", "127.0.0.1:0".parse().unwrap());
        assert!(bare.allows("q.example:8080") && bare.allows("localhost") && !bare.allows("pw"));
    }
}
