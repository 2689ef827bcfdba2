//! The HTTP surface (axum): the router, its shared [`AppState`], and the layers every route
//! shares — a request id on every request ([`request_id`]), a 1 MiB body limit, request
//! tracing at DEBUG, and fallbacks that answer unknown
//! routes and methods in the one error shape of [`error`].
//!
//! Route map (roles: see [`auth::required_role`]):
//! - `GET /healthz`: no auth. `GET /metrics`: `http.metrics_token` when set; on
//!   `http.metrics_listen` instead of here when that is set.
//! - `POST /webhooks/inbound`: the inbound token; disabled unless `inbound_token` is set.
//!
//! Every request's `Host` must name this daemon ([`host`]): a DNS-rebinding page cannot reach it.
//! - `POST /webhooks/twilio`, `GET|POST /webhooks/messenger`, `POST /webhooks/email/mailgun`,
//!   `POST /webhooks/email/postmark[/{secret}]`: each provider's own signature or secret
//!   ([`providers`]), checked on the raw body before anything is parsed.
//! - `/v1/prospects`, `/v1/prospects/{id}`, `/v1/prospects/{id}/messages`,
//!   `/v1/prospects/{id}/pause|resume`, `/v1/workflows`, `/v1/workflows/{id}/pause|resume`,
//!   `/v1/reload`, `/v1/privacy/*` (with `/v1/privacy/suppression`), `/v1/status`, `/v1/backup`:
//!   bearer tokens with roles; every change is audited
//!   ([`audit`]).
//! - `GET|POST /u/{token}`: the one-click unsubscribe page and action (the token is the credential).
//!
//! Never log bodies, contact details or message text here: only methods, routes, ids, statuses.

mod audit;
pub mod auth;
mod email_inbound;
pub mod error;
pub mod extract;
#[cfg(test)]
mod fuzz;
pub mod health;
pub mod host;
mod messenger;
mod operator;
mod ops;
mod privacy;
mod prospects;
pub mod providers;
pub mod request_id;
pub mod serve;
mod signature;
#[cfg(test)]
mod tests;
mod twilio;
mod unsubscribe;
mod webhooks;
mod workflows;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::engine::Engine;

pub use auth::{Auth, Caller, Role};
pub use error::Error;
pub use providers::ProviderWebhooks;

/// The largest request body any route reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the handlers share.
pub struct AppState {
    pub engine: Engine,
    /// The admin API tokens.
    pub auth: Auth,
    /// Who may call `POST /webhooks/inbound` (disabled unless configured).
    pub inbound_webhook: crate::settings::InboundWebhook,
    /// The `Host` names requests may carry (DNS rebinding guard).
    pub hosts: host::AllowedHosts,
    /// The provider webhooks' public URL and secrets.
    pub webhooks: ProviderWebhooks,
    /// Renders `GET /metrics`; `None` answers 404 there.
    pub metrics: Option<PrometheusHandle>,
    /// Who may read `/metrics`: a bearer token, and whether it is served on its own address
    /// (then the main listener answers 404 there).
    pub metrics_access: health::MetricsAccess,
    /// Asks for a catalog reload (`POST /v1/reload`). Called on the request's task: it must only
    /// signal (send on a channel, notify), never do the reload itself.
    pub reload: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Outcome of the last reload and when each version was loaded, for `GET /v1/workflows`.
    pub reloader: Option<crate::reload::Reloader>,
    /// The daemon's start time, store and data directory, for `/v1/status`, `/v1/backup` and
    /// the suppression list routes; `None` answers 404 there.
    pub ops: Option<crate::ops::Instance>,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("auth", &self.auth)
            .field("inbound_webhook", &self.inbound_webhook)
            .field("hosts", &self.hosts)
            .field("webhooks", &self.webhooks)
            .field("metrics", &self.metrics.is_some())
            .field("metrics_access", &self.metrics_access)
            .field("reload", &self.reload.is_some())
            .finish_non_exhaustive()
    }
}

pub type Shared = Arc<AppState>;

/// Runs a store scan (listing, gauges) off the async workers so that a large store does not
/// stall other requests.
async fn blocking<T: Send + 'static>(
    state: &Shared,
    what: &str,
    scan: impl FnOnce(&Engine) -> T + Send + 'static,
) -> Result<T, Error> {
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || scan(&engine)).await.map_err(|err| Error::internal(what, &err))
}

/// Only `/healthz` and `/metrics`, for `http.metrics_listen`.
pub fn metrics_router(shared: Shared) -> Router {
    let routes = Router::new().route("/healthz", get(health::healthz)).route("/metrics", get(health::metrics_here));
    finish(routes).with_state(shared)
}

/// The whole HTTP API, ready for [`serve::serve`].
pub fn router(shared: Shared) -> Router {
    let auth = shared.auth.clone();
    let admin_api = Router::new()
        .route("/v1/prospects", get(prospects::list).post(prospects::import))
        .route("/v1/prospects/{id}", get(prospects::show).patch(privacy::rectify))
        .route("/v1/prospects/{id}/messages", get(prospects::messages))
        .route("/v1/prospects/{id}/messages", post(operator::send))
        .route("/v1/prospects/{id}/pause", post(prospects::pause))
        .route("/v1/prospects/{id}/resume", post(prospects::resume))
        .route("/v1/prospects/{id}/retry", post(prospects::retry))
        .route("/v1/prospects/{id}/wake", post(prospects::wake))
        .route("/v1/workflows", get(workflows::list))
        .route("/v1/workflows/{id}/pause", post(workflows::pause))
        .route("/v1/workflows/{id}/resume", post(workflows::resume))
        .route("/v1/reload", post(workflows::reload))
        .route("/v1/privacy/export", post(privacy::export))
        .route("/v1/privacy/erase", post(privacy::erase))
        .route("/v1/privacy/restrict", post(privacy::restrict))
        .route("/v1/privacy/unrestrict", post(privacy::unrestrict))
        .route("/v1/privacy/object", post(privacy::object))
        .route("/v1/privacy/requests", get(privacy::requests))
        .route("/v1/audit", get(audit::list))
        .route("/v1/privacy/suppression", get(ops::export_suppression).post(ops::import_suppression))
        .route("/v1/status", get(ops::status))
        .route("/v1/backup", post(ops::backup))
        // The audit layer wraps the auth layer, so a refused (403) request is recorded too.
        .route_layer(middleware::from_fn_with_state(auth, auth::require_role))
        .route_layer(middleware::from_fn_with_state(shared.clone(), audit::record));
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/webhooks/inbound", post(webhooks::inbound))
        .route("/webhooks/twilio", post(twilio::webhook))
        .route("/webhooks/messenger", get(messenger::verify).post(messenger::webhook))
        .route("/webhooks/email/mailgun", post(email_inbound::mailgun))
        .route("/webhooks/email/postmark", post(email_inbound::postmark_with_basic_auth))
        .route("/webhooks/email/postmark/{secret}", post(email_inbound::postmark_with_secret))
        .route("/u/{token}", get(unsubscribe::show).post(unsubscribe::confirm))
        .merge(admin_api);
    finish(routes).layer(middleware::from_fn_with_state(shared.clone(), host::check)).with_state(shared)
}

/// The layers and fallbacks every route shares; call it once all routes are in (the 405
/// fallback only reaches routes that exist when it is set).
fn finish<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    let trace = TraceLayer::new_for_http()
        .make_span_with(DefaultMakeSpan::new().level(Level::DEBUG))
        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
        // 5xx the handlers produce are logged by `Error::internal` with their cause.
        .on_failure(DefaultOnFailure::new().level(Level::DEBUG));
    routes
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(trace)
        .layer(middleware::from_fn(request_id::layer))
}
