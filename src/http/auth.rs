//! Bearer-token authentication and role-based authorization of the admin API: the token table
//! ([`Auth`]), the policy (which role a route needs), and the middleware that enforces both and
//! leaves the [`Caller`] in the request (and response) extensions for audit logging.

use std::fmt;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::error::Error;
use crate::settings;

/// What a token may do. Ordered: an admin may do what an operator may, an operator what a
/// viewer may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `GET` only.
    Viewer,
    /// Reads, plus pausing and resuming prospects.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether a token with this role may call a route that needs `required`.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<settings::Role> for Role {
    fn from(role: settings::Role) -> Role {
        match role {
            settings::Role::Admin => Role::Admin,
            settings::Role::Operator => Role::Operator,
            settings::Role::Viewer => Role::Viewer,
        }
    }
}

/// Who made an authenticated request: inserted into the request extensions for the handlers
/// (`Extension<Caller>`) and into the response extensions for outer layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name from the settings, never the token itself.
    pub name: String,
    pub role: Role,
}

/// The admin API tokens. Cheap to clone. Tokens are kept only as SHA-256 digests so that every
/// comparison is over 32 bytes whatever the length of the token presented.
#[derive(Clone)]
pub struct Auth {
    entries: Arc<[Entry]>,
}

struct Entry {
    name: String,
    role: Role,
    digest: [u8; 32],
}

impl Auth {
    /// `(name, role, token)` triples. Names and tokens are expected to be unique (the settings
    /// compiler checks it); an empty token never matches.
    pub fn new(tokens: Vec<(String, Role, String)>) -> Auth {
        let entries =
            tokens.into_iter().map(|(name, role, token)| Entry { name, role, digest: digest(&token) }).collect();
        Auth { entries }
    }

    /// The caller whose token is `token`, comparing in constant time against every entry (no
    /// early exit, so timing tells neither which entry matched nor how much of it).
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        if token.is_empty() {
            return None;
        }
        let presented = digest(token);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u64;
        for (i, entry) in self.entries.iter().enumerate() {
            let equal = presented[..].ct_eq(&entry.digest[..]);
            index.conditional_assign(&(i as u64), equal);
            found |= equal;
        }
        let entry = bool::from(found).then(|| &self.entries[index as usize])?;
        Some(Caller { name: entry.name.clone(), role: entry.role })
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.entries.iter().map(|e| (e.name.as_str(), e.role));
        f.debug_struct("Auth").field("tokens", &names.collect::<Vec<_>>()).finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `presented` equals `expected`, in constant time.
pub fn token_matches(presented: &str, expected: &str) -> bool {
    !presented.is_empty() && bool::from(digest(presented)[..].ct_eq(&digest(expected)[..]))
}

/// The token of an `Authorization: Bearer <token>` header, or a 401 saying what is wrong.
pub fn bearer(headers: &HeaderMap) -> Result<&str, Error> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Error::unauthorized(
            "the request has no `Authorization` header: send `Authorization: Bearer <token>`",
        ));
    };
    let malformed = || Error::unauthorized("the `Authorization` header must be `Bearer <token>`");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(token)
}

/// Routes an operator may call besides reads; every route not listed needs an admin, so a new
/// route is admin-only until it is added here.
const OPERATOR_ROUTES: &[&str] = &[
    "/v1/prospects/{id}/pause",
    "/v1/prospects/{id}/resume",
    "/v1/prospects/{id}/retry",
    "/v1/prospects/{id}/messages",
];

/// Routes under this prefix carry personal data or act on a person's rights: admin only, reads
/// included.
const PRIVACY_ROUTES: &str = "/v1/privacy/";
/// The audit log: who read and changed what (admin only).
const AUDIT_ROUTE: &str = "/v1/audit";

/// The role a request needs: the privacy routes an admin, reads a viewer, the operator routes an
/// operator, the rest an admin. `route` is the matched route pattern (`/v1/prospects/{id}`), not
/// the concrete path.
pub fn required_role(method: &Method, route: &str) -> Role {
    if route.starts_with(PRIVACY_ROUTES) || route == AUDIT_ROUTE {
        Role::Admin
    } else if method == Method::GET || method == Method::HEAD {
        Role::Viewer
    } else if method == Method::POST && OPERATOR_ROUTES.contains(&route) {
        Role::Operator
    } else {
        Role::Admin
    }
}

/// Middleware (`route_layer`) for the admin API: 401 without a known token, 403 when its role is
/// not enough, else passes the request on with its [`Caller`]. The answer (a 403 too) carries the
/// [`Caller`] in its extensions for the audit layer.
pub async fn require_role(State(auth): State<Auth>, mut req: Request, next: Next) -> Result<Response, Error> {
    let token = bearer(req.headers())?;
    let Some(caller) = auth.authenticate(token) else {
        tracing::debug!(path = req.uri().path(), "rejected an unknown bearer token");
        return Err(Error::unauthorized(
            "the bearer token is not known: use a token from `admin_token` or `admin_tokens` in the settings",
        ));
    };
    let route = match req.extensions().get::<MatchedPath>() {
        Some(matched) => matched.as_str().to_owned(),
        None => req.uri().path().to_owned(),
    };
    let needed = required_role(req.method(), &route);
    if !caller.role.allows(needed) {
        let mut refused = Error::forbidden(format!(
            "the token `{}` has the role `{}` but `{} {route}` needs `{needed}`: use a token with that role",
            caller.name,
            caller.role,
            req.method()
        ))
        .into_response();
        // Who was refused, for the audit layer around this one.
        refused.extensions_mut().insert(caller);
        return Ok(refused);
    }
    req.extensions_mut().insert(caller.clone());
    let mut response = next.run(req).await;
    response.extensions_mut().insert(caller);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn auth() -> Auth {
        Auth::new(vec![
            ("root".into(), Role::Admin, "admin-secret".into()),
            ("desk".into(), Role::Operator, "operator-secret".into()),
            ("wall".into(), Role::Viewer, "viewer-secret".into()),
            ("blank".into(), Role::Admin, String::new()),
        ])
    }

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(bearer(&headers("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer(&headers("bearer  abc ")).unwrap(), "abc");
        assert_eq!(bearer(&HeaderMap::new()).unwrap_err().code(), "unauthorized");
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc", ""] {
            assert!(bearer(&headers(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn finds_the_token_of_each_role() {
        let auth = auth();
        let caller = |t: &str| auth.authenticate(t).map(|c| (c.name, c.role));
        assert_eq!(caller("admin-secret"), Some(("root".into(), Role::Admin)));
        assert_eq!(caller("operator-secret"), Some(("desk".into(), Role::Operator)));
        assert_eq!(caller("viewer-secret"), Some(("wall".into(), Role::Viewer)));
        assert_eq!(caller("viewer-secret2"), None);
        assert_eq!(caller("admin"), None);
        assert_eq!(caller(""), None);
        assert_eq!(Auth::new(Vec::new()).authenticate("x"), None);
    }

    #[test]
    fn debug_does_not_print_tokens() {
        let printed = format!("{:?}", auth());
        assert!(printed.contains("root") && !printed.contains("secret"), "{printed}");
    }

    #[test]
    fn compares_single_tokens() {
        assert!(token_matches("inbound", "inbound"));
        assert!(!token_matches("inbound", "inbound2"));
        assert!(!token_matches("", ""));
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.allows(Role::Operator) && Role::Operator.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Operator) && !Role::Operator.allows(Role::Admin));
    }

    #[test]
    fn policy_table() {
        let cases = [
            (Method::GET, "/v1/prospects", Role::Viewer),
            (Method::HEAD, "/v1/prospects/{id}", Role::Viewer),
            (Method::POST, "/v1/prospects", Role::Admin),
            (Method::POST, "/v1/prospects/{id}/pause", Role::Operator),
            (Method::POST, "/v1/prospects/{id}/resume", Role::Operator),
            (Method::POST, "/v1/prospects/{id}/messages", Role::Operator),
            (Method::GET, "/v1/prospects/{id}/messages", Role::Viewer),
            (Method::POST, "/v1/workflows/{id}/pause", Role::Admin),
            (Method::POST, "/v1/reload", Role::Admin),
            (Method::DELETE, "/v1/prospects/{id}/pause", Role::Admin),
            (Method::PATCH, "/v1/prospects/{id}", Role::Admin),
            (Method::POST, "/v1/privacy/export", Role::Admin),
            (Method::POST, "/v1/privacy/erase", Role::Admin),
            (Method::GET, "/v1/privacy/requests", Role::Admin),
        ];
        for (method, route, role) in cases {
            assert_eq!(required_role(&method, route), role, "{method} {route}");
        }
    }
}
