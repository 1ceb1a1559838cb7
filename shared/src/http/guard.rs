//! The access layer every route passes before its handler: the caller authenticated and
//! cleared as the route's [`Access`] demands (deny by default), and the reads the route makes
//! ahead (`Route::reads_ahead`) made at the same time as the caller's own.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, extract};
use crate::app::App;
use crate::domain::access::{self, Access, Bearer, Intent};
use crate::email::Email;
use crate::keys;
use crate::refusal::Refusal;
use crate::secrets::{self, SecretKind};
use crate::store::ahead::{self as read_ahead, PrimedTable, Read};
use crate::store::{Key, Query};

/// What a route's reads ahead may be named by: on a profile route the ids in its path (`{pid}`,
/// and the last other id — `{uid}`, `{id}`, … — when there is one and it is well formed) and
/// the account the caller's token claims (`secrets::claim`; the caller's own once it is
/// cleared); on a session route that account; on a run user's route the profile and the user
/// its session claims (`secrets::pair_claim`); on an application route the profile. A route
/// that reads ahead by e-mail ([`super::Route::reads_ahead_by_email`]) also has the e-mail its
/// JSON body names in `email`, when it is one.
#[derive(Clone, Debug, Default)]
pub struct RequestIds {
    pub pid: Option<uuid::Uuid>,
    pub id: Option<uuid::Uuid>,
    pub claimed: Option<uuid::Uuid>,
    pub email: Option<Email>,
}

impl RequestIds {
    /// The item `key` names by the body's e-mail.
    pub fn email_item(&self, key: fn(&Email) -> Key) -> Vec<Read> {
        on(self.email.as_ref(), |email| Read::Get(key(email)))
    }
    /// The profile's item `key` names by the body's e-mail.
    pub fn profile_email_item(&self, key: fn(uuid::Uuid, &Email) -> Key) -> Vec<Read> {
        on(self.pid.zip(self.email.as_ref()), |(pid, email)| {
            Read::Get(key(pid, email))
        })
    }
    /// The item `key` names under the profile by the path's last id (none without one).
    pub fn item(&self, key: fn(uuid::Uuid, uuid::Uuid) -> Key) -> Vec<Read> {
        self.on_item(|pid, id| Read::Get(key(pid, id)))
    }
    /// The first page of `query` under the profile by the path's last id (none without one).
    pub fn item_query(&self, query: fn(uuid::Uuid, uuid::Uuid) -> Query) -> Vec<Read> {
        self.on_item(|pid, id| Read::Query(query(pid, id)))
    }
    /// The profile's item `key` names.
    pub fn profile_item(&self, key: fn(uuid::Uuid) -> Key) -> Vec<Read> {
        on(self.pid, |pid| Read::Get(key(pid)))
    }
    /// The first page of the profile's `query`.
    pub fn profile_query(&self, query: fn(uuid::Uuid) -> Query) -> Vec<Read> {
        on(self.pid, |pid| Read::Query(query(pid)))
    }
    /// The claimed account's item `key` names.
    pub fn account_item(&self, key: fn(uuid::Uuid) -> Key) -> Vec<Read> {
        on(self.claimed, |aid| Read::Get(key(aid)))
    }
    /// The first page of the claimed account's `query`.
    pub fn account_query(&self, query: fn(uuid::Uuid) -> Query) -> Vec<Read> {
        on(self.claimed, |aid| Read::Query(query(aid)))
    }
    fn on_item(&self, read: impl FnOnce(uuid::Uuid, uuid::Uuid) -> Read) -> Vec<Read> {
        on(self.pid.zip(self.id), |(pid, id)| read(pid, id))
    }
}

/// The read `read` names with `id`, when there is one.
fn on<T>(id: Option<T>, read: impl FnOnce(T) -> Read) -> Vec<Read> {
    id.map(read).into_iter().collect()
}

/// The reads a route's handler makes first, on the ids of its path.
pub type ReadsOf = fn(&RequestIds) -> Vec<Read>;

/// What a route reads ahead: its reads, and whether they are named by its body's e-mail too.
#[derive(Clone, Copy, Debug)]
pub struct Ahead {
    pub reads: ReadsOf,
    pub by_email: bool,
}

/// Authenticates the caller as `access` demands and hands the handler a `Principal` (session
/// routes), a `ProfileCaller` (profile routes), a `RunCaller` (a run user's routes) or a
/// `Visitor` (application routes) as a request extension, with what the route read ahead.
pub(super) async fn authorize(
    State(app): State<App>,
    route: (Access, Option<Ahead>),
    request: Request,
    next: Next,
) -> Response {
    match authorized(&app, route, request).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

async fn authorized(
    app: &App,
    (access, ahead): (Access, Option<Ahead>),
    request: Request,
) -> Result<Request, ApiError> {
    refuse_query_tokens(request.uri().query())?;
    if access == Access::Anyone {
        return Ok(request);
    }
    let (mut parts, body) = request.into_parts();
    let (email, body) = match ahead {
        Some(Ahead { by_email: true, .. }) => body_email(body).await?,
        _ => (None, body),
    };
    if access == Access::Application {
        let pid = path_pid(app, &mut parts).await?;
        let reads = match ahead {
            Some(ahead) => (ahead.reads)(&RequestIds {
                pid: Some(pid),
                email,
                ..RequestIds::default()
            }),
            None => Vec::new(),
        };
        let (visitor, ahead) = tokio::join!(
            access::for_application(app, pid),
            read_ahead::read_ahead(app.table.as_ref(), reads)
        );
        parts.extensions.insert(visitor?);
        prime(app, &mut parts, ahead);
        return Ok(Request::from_parts(parts, body));
    }
    let header = parts.headers.get(header::AUTHORIZATION).cloned();
    let secret = bearer(header.as_ref())?;
    // What the route reads first is read with the token, on the token's claim and the path's
    // ids: on a profile route the caller's membership and the profile (which `for_profile` uses
    // only if the token agrees), on a run user's route the user and its profile, and the
    // route's own reads ahead; handed to the handler only once the caller is cleared.
    let pid = match access {
        Access::Profile(..) => Some(path_pid(app, &mut parts).await),
        _ => None,
    };
    let claim = secrets::claim(secret);
    let ids = match (access, &pid, claim) {
        (Access::Profile(..), Some(Ok(pid)), Some(claimed)) => Some(RequestIds {
            pid: Some(*pid),
            id: last_path_id(app, &mut parts).await,
            claimed: Some(claimed),
            email,
        }),
        (Access::Session, _, Some(claimed)) => Some(RequestIds {
            claimed: Some(claimed),
            email,
            ..RequestIds::default()
        }),
        (Access::RunUser, _, _) => {
            secrets::pair_claim(secret, SecretKind::RunUser).map(|(pid, uid)| RequestIds {
                pid: Some(pid),
                id: Some(uid),
                claimed: None,
                email,
            })
        }
        _ => None,
    };
    let mut reads = match (ahead, &ids) {
        (Some(ahead), Some(ids)) => (ahead.reads)(ids),
        _ => Vec::new(),
    };
    if let Some(ids) = ids {
        reads.extend(match access {
            Access::Profile(..) => on(ids.pid.zip(ids.claimed), |(pid, aid)| {
                Read::Get(keys::profile_member(pid, aid))
            }),
            Access::RunUser => ids.item(keys::run_user),
            _ => Vec::new(),
        });
        if matches!(access, Access::Profile(..) | Access::RunUser) {
            reads.extend(ids.profile_item(keys::profile));
        }
    }
    let (bearer, ahead) = tokio::join!(
        access::authenticate_bearer(app, secret),
        read_ahead::read_ahead(app.table.as_ref(), reads)
    );
    let bearer = bearer?;
    match (access, bearer) {
        (Access::Anyone | Access::Application, _) => {}
        (Access::RunUser, Bearer::RunUser(session)) => {
            parts
                .extensions
                .insert(access::for_run_user(app, session, &ahead).await?);
        }
        (Access::RunUser, Bearer::Team(_)) => {
            return Err(Refusal::Forbidden("this route needs a run user's session".into()).into());
        }
        // A run user is a stranger to every route of a team: 404 on a profile, 403 elsewhere.
        (Access::Profile(..), Bearer::RunUser(_)) => return Err(Refusal::not_found().into()),
        (Access::Session, Bearer::RunUser(_)) => return Err(access::run_user_refused().into()),
        (Access::Session, Bearer::Team(principal)) => {
            access::for_session(&principal)?;
            parts.extensions.insert(principal);
        }
        (Access::Profile(need, area, metering), Bearer::Team(principal)) => {
            let pid = pid.ok_or(Refusal::Internal)??;
            let intent = if parts.method == Method::GET || parts.method == Method::HEAD {
                Intent::Read
            } else {
                Intent::Change
            };
            let caller =
                access::for_profile(app, principal, pid, (need, area, metering), intent, &ahead)
                    .await?;
            parts.extensions.insert(caller);
        }
    }
    prime(app, &mut parts, ahead);
    Ok(Request::from_parts(parts, body))
}

/// The e-mail a JSON body names in its `email` field, if it is one, and the body, unchanged for
/// the handler (which answers whatever is wrong with it).
async fn body_email(body: axum::body::Body) -> Result<(Option<Email>, axum::body::Body), ApiError> {
    #[derive(serde::Deserialize)]
    struct Named {
        email: String,
    }
    let bytes = axum::body::to_bytes(body, extract::MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::BodyTooLarge(extract::MAX_BODY_BYTES))?;
    let email = serde_json::from_slice::<Named>(&bytes)
        .ok()
        .and_then(|named| Email::parse(&named.email).ok());
    Ok((email, axum::body::Body::from(bytes)))
}

/// Hands a cleared caller's handler what its route read ahead ([`extract::Primed`]).
fn prime(app: &App, parts: &mut axum::http::request::Parts, ahead: read_ahead::ReadsAhead) {
    if !ahead.is_empty() {
        let table = PrimedTable::new(app.table.clone(), ahead);
        parts
            .extensions
            .insert(extract::Primed(app.with_table(std::sync::Arc::new(table))));
    }
}

/// The last id of the path other than `{pid}`, when there is one and it is well formed (a
/// malformed one is the handler's to refuse).
async fn last_path_id(app: &App, parts: &mut axum::http::request::Parts) -> Option<uuid::Uuid> {
    let params = extract::raw_params(parts, app).await.ok()?;
    let (_, raw) = params.iter().filter(|(name, _)| *name != "pid").last()?;
    uuid::Uuid::parse_str(raw).ok()
}

/// The profile id in the path's `{pid}`.
async fn path_pid(
    app: &App,
    parts: &mut axum::http::request::Parts,
) -> Result<uuid::Uuid, ApiError> {
    let params = extract::raw_params(parts, app).await?;
    let raw = params
        .iter()
        .find(|(name, _)| *name == "pid")
        .map(|(_, value)| value)
        .ok_or(Refusal::Internal)?;
    extract::id("profile id", raw)
}

/// The secret of an `Authorization: Bearer <secret>` header.
pub(crate) fn bearer(header: Option<&HeaderValue>) -> Result<&str, Refusal> {
    let refused = |detail: &str| Refusal::Unauthenticated(detail.to_owned());
    let header = header
        .ok_or_else(|| refused("an Authorization: Bearer token is required"))?
        .to_str()
        .map_err(|_| refused("the Authorization header must be `Bearer <token>`"))?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| refused("the Authorization header must be `Bearer <token>`"))
}

/// Tokens belong in the `Authorization` header only: a query string that carries one (or a
/// parameter named like one) is refused, so secrets never land in access logs.
pub fn refuse_query_tokens(query: Option<&str>) -> Result<(), ApiError> {
    let Some(query) = query else { return Ok(()) };
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = name.to_ascii_lowercase();
        let named_like_a_token = matches!(
            name.as_str(),
            "token" | "access_token" | "api_key" | "apikey" | "auth" | "authorization" | "bearer"
        );
        let looks_like_a_secret = SecretKind::ALL
            .iter()
            .any(|kind| value.starts_with(kind.prefix()));
        if named_like_a_token || looks_like_a_secret {
            return Err(ApiError::BadRequest(
                "tokens are accepted only in the Authorization: Bearer header, never in the URL"
                    .into(),
            ));
        }
    }
    Ok(())
}
