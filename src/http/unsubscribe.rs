//! The one-click unsubscribe link `/u/{token}` (`state.unsubscribe_token`, in every message
//! template as `unsubscribe_url` and in the email `List-Unsubscribe` header):
//! - `GET` shows a small page with a confirm button and changes nothing: mail scanners and link
//!   previews follow links, and must not unsubscribe anyone;
//! - `POST` (the button, or a mail client's RFC 8058 `List-Unsubscribe=One-Click`) takes the
//!   person out of every campaign. Repeating it is harmless.
//!
//! No auth: the token is the credential. An unknown (or erased) token answers 404 with the same
//! page for everyone. Pages carry no personal data.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::error::Error;

/// Tokens are hex; anything else is not one of ours.
fn plausible(token: &str) -> bool {
    !token.is_empty() && token.len() <= 128 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head>\
         <body style=\"font-family: sans-serif; max-width: 32em; margin: 3em auto; padding: 0 1em\">\
         <h1>{title}</h1>{body}</body></html>\n"
    );
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    (status, headers, html).into_response()
}

fn unknown() -> Response {
    page(StatusCode::NOT_FOUND, "Link not valid", "<p>This unsubscribe link is not valid, or no longer is.</p>")
}

/// `GET /u/{token}`: the confirmation page. Changes nothing.
pub async fn show(State(state): State<Shared>, Path(token): Path<String>) -> Result<Response, Error> {
    if !plausible(&token) || !state.engine.unsubscribe_token_known(&token)? {
        return Ok(unknown());
    }
    let body = "<p>Stop receiving messages from us, on every channel?</p>\
                <form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>";
    Ok(page(StatusCode::OK, "Unsubscribe", body))
}

/// `POST /u/{token}`: unsubscribes (RFC 8058 one-click).
pub async fn confirm(State(state): State<Shared>, Path(token): Path<String>) -> Result<Response, Error> {
    if !plausible(&token) || !state.engine.unsubscribe_by_token(&token).await? {
        return Ok(unknown());
    }
    let body = "<p>You will not receive any more messages from us. If this was a mistake, reply START to one \
                of our text messages, or contact us.</p>";
    Ok(page(StatusCode::OK, "You are unsubscribed", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hex_tokens_are_looked_up() {
        assert!(plausible("0a1b2c3d4e5f60718293a4b5c6d7e8f9"));
        assert!(!plausible(""));
        assert!(!plausible("<script>"));
        assert!(!plausible(&"a".repeat(129)));
    }
}
