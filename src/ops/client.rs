//! The admin API as the operator commands (`import`, `status`, `backup`, `suppression`) reach
//! it: a base URL and a bearer token, JSON in and out, and the daemon's one error shape turned
//! into an error that says what to do.

use std::time::Duration;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot reach the daemon at {server} ({source}): is `qualifyd serve` running there? give its address with --server"
    )]
    Unreachable { server: String, source: reqwest::Error },
    #[error("the daemon answered {status} to {what}: {code}: {message}{}", request_id.as_ref().map(|id| format!(" (request id {id})")).unwrap_or_default())]
    Api { what: String, status: u16, code: String, message: String, request_id: Option<String> },
    #[error("the daemon's answer to {what} is not the JSON expected: {message}")]
    Decode { what: String, message: String },
}

/// A daemon's admin API.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// `server` is a base URL such as `http://127.0.0.1:8080`; `token` an admin API token.
    pub fn new(server: &str, token: Option<String>) -> Client {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(600)).build().unwrap_or_default();
        Client { base: server.trim_end_matches('/').to_string(), token, http }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str) -> Result<Value, Error> {
        self.send(self.http.get(self.url(path)), &format!("GET {path}")).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.send(self.http.post(self.url(path)).json(body), &format!("POST {path}")).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Value, Error> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let unreachable = |source| Error::Unreachable { server: self.base.clone(), source };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = response.text().await.map_err(unreachable)?;
        let body: Value = serde_json::from_str(&text)
            .map_err(|err| Error::Decode { what: what.to_string(), message: err.to_string() })?;
        if status.is_success() {
            return Ok(body);
        }
        let field = |name: &str| body["error"][name].as_str().unwrap_or_default().to_string();
        Err(Error::Api {
            what: what.to_string(),
            status: status.as_u16(),
            code: field("code"),
            message: field("message"),
            request_id: request_id.or_else(|| body["error"]["request_id"].as_str().map(str::to_string)),
        })
    }
}

/// The address the commands talk to when `--server` is not given: the daemon's `listen`
/// address from its settings (a wildcard address is reached on loopback).
pub fn default_server(listen: std::net::SocketAddr) -> String {
    let host = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}", listen.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_reached_on_loopback() {
        assert_eq!(default_server("0.0.0.0:8080".parse().unwrap()), "http://127.0.0.1:8080");
        assert_eq!(default_server("[::]:80".parse().unwrap()), "http://[::1]:80");
        assert_eq!(default_server("10.0.0.2:9000".parse().unwrap()), "http://10.0.0.2:9000");
    }
}
