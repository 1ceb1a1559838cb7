//! The access vocabulary, in one place: who calls (a [`Principal`]), what a route demands (an
//! [`Access`]), the roles and token permissions on a profile (stored with the records, named
//! here), and the check that turns a
//! principal into a [`ProfileCaller`]. Deny by default: the router refuses a request before its
//! handler runs unless the caller meets the route's `Access`.
//!
//! A new kind of caller (a run user of a profile, who may call some application routes about
//! itself) is a new `Principal` variant, a new `Access` variant for the routes it may reach, and
//! one more arm in [`authenticate`]; the `match`es below name every place that must decide.

use uuid::Uuid;

use super::records::{MemberRecord, ProfileRecord, RunUserRecord, TokenRecord};
pub use super::records::{Permission, Role};
use super::usage;
use crate::app::App;
use crate::catalogue::spelling;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::secrets::{self, SecretKind};
use crate::store::ahead::ReadsAhead;
use crate::store::{Condition, StoreError, Update};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Anyone,
    /// An account's login session (not an API token).
    Session,
    /// Someone on the profile named by the path's `{pid}`, with at least this role, in this
    /// area; `Metered` routes count (and past the limit refuse) one `api_requests` use.
    Profile(Role, Area, RequestMetering),
    /// Anyone, signed in or not, on an application route of the profile named by the path's
    /// `{pid}` (run-user sign-up, login, password reset): the profile must exist (else 404),
    /// and each request counts one `api_requests` use.
    Application,
    /// A run user's session, on its own profile's application: counts one `api_requests` use.
    RunUser,
}

impl Access {
    /// Any role on the profile, in `area` (a management route: not metered).
    pub const fn member(area: Area) -> Self {
        Access::Profile(Role::Member, area, RequestMetering::Unmetered)
    }
    /// Owner or admin, in `area` (a management route: not metered).
    pub const fn admin(area: Area) -> Self {
        Access::Profile(Role::Admin, area, RequestMetering::Unmetered)
    }
    /// The owner only, in `area` (a management route: not metered).
    pub const fn owner(area: Area) -> Self {
        Access::Profile(Role::Owner, area, RequestMetering::Unmetered)
    }
    /// The same access on an application route: each request counts one `api_requests` use.
    pub const fn metered(self) -> Self {
        match self {
            Access::Profile(role, area, _) => Access::Profile(role, area, RequestMetering::Metered),
            other => other,
        }
    }
}

/// Whether a profile route counts against the profile's `api_requests` (DESIGN.md, "Metering"):
/// application routes (run users, export, policies, the policy check) do; management routes (the
/// profile, limits, usage, statistics, team, invitations, tokens, audit) never do, so an owner
/// can always raise a limit, revoke a token or remove a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestMetering {
    /// A management route: never counted, never refused for `api_requests`.
    Unmetered,
    /// An application route: one `api_requests` use per request, refused past the limit.
    Metered,
}

/// What part of a profile a route touches; API tokens below `full` cannot reach `Governance`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// The profile and its application side (run users, export, policies, usage).
    App,
    /// Team, tokens, limits and deleting the profile.
    Governance,
}

/// Whether a request only reads (GET, HEAD) or may change something: what a `read` token may
/// do depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Read,
    Change,
}

/// Whoever a bearer secret names: someone of a team (an account or an API token), or a run
/// user of one profile's application.
#[derive(Clone, Debug)]
pub enum Bearer {
    Team(Principal),
    RunUser(RunSession),
}

/// A run user's session, as its token item says (checked against the user by [`for_run_user`]).
#[derive(Clone, Debug)]
pub struct RunSession {
    pub pid: Uuid,
    pub uid: Uuid,
    pub version: i64,
    pub token_digest: String,
}

/// A run user cleared for its profile's application, with its record and the profile as read
/// while clearing it.
#[derive(Clone, Debug)]
pub struct RunCaller {
    pub session: RunSession,
    pub user: RunUserRecord,
    pub profile: ProfileRecord,
}

/// Anyone on an application route of an existing profile, with the profile as read.
#[derive(Clone, Debug)]
pub struct Visitor {
    pub profile: ProfileRecord,
}

/// An authenticated caller of a team.
#[derive(Clone, Debug)]
pub enum Principal {
    /// An account, through a login session: all the account's profiles, by role.
    Account { aid: Uuid, token_digest: String },
    /// A profile's API token: one profile, its creator's current role, capped by `permission`.
    Token {
        tid: Uuid,
        pid: Uuid,
        /// The creator.
        aid: Uuid,
        permission: Permission,
    },
}

impl Principal {
    /// The account this caller acts as.
    pub fn account_id(&self) -> Uuid {
        match self {
            Principal::Account { aid, .. } | Principal::Token { aid, .. } => *aid,
        }
    }
}

/// A caller cleared for one profile, with the profile as read while clearing it (its limits
/// and gauges included), so handlers need not read it again.
#[derive(Clone, Debug)]
pub struct ProfileCaller {
    pub pid: Uuid,
    pub role: Role,
    pub principal: Principal,
    pub profile: ProfileRecord,
}

fn unauthenticated(detail: &str) -> Refusal {
    Refusal::Unauthenticated(detail.to_owned())
}

/// How often a token's `last_used_at` is written, at most.
const LAST_USED_EVERY_SECONDS: i64 = 60;

/// The team caller behind a bearer secret; a run user's session is refused here (403, as on
/// every route of a team).
pub async fn authenticate(app: &App, secret: &str) -> Decided<Principal> {
    match authenticate_bearer(app, secret).await? {
        Bearer::Team(principal) => Ok(principal),
        Bearer::RunUser(_) => Err(run_user_refused()),
    }
}

/// What a run user's session gets on a route of a team.
pub fn run_user_refused() -> Refusal {
    Refusal::Forbidden("a run user's session cannot be used here".into())
}

/// The caller behind a bearer secret: one read of the token item (plus, at most once a minute
/// per API token, the write of its `last_used_at`).
pub async fn authenticate_bearer(app: &App, secret: &str) -> Decided<Bearer> {
    // A malformed secret or a failed checksum is refused without reading the store.
    let kind = secrets::parse(secret).ok_or_else(|| unauthenticated("the token is not valid"))?;
    if !matches!(
        kind,
        SecretKind::Session | SecretKind::ProfileToken | SecretKind::RunUser
    ) {
        return Err(unauthenticated("this kind of token cannot be used here"));
    }
    let digest = secrets::digest(secret);
    let key = keys::token(&digest);
    let item = app
        .table
        .get(&key)
        .await?
        .ok_or_else(|| unauthenticated("the token is not valid or was revoked"))?;
    let record: TokenRecord = keys::from_item(item)?;
    let now = app.now();
    if record.expires_at().is_some_and(|at| at <= now) {
        return Err(unauthenticated("the token has expired"));
    }
    match record {
        TokenRecord::Session(session) => Ok(Bearer::Team(Principal::Account {
            aid: session.aid,
            token_digest: digest,
        })),
        TokenRecord::RunSession(session) => Ok(Bearer::RunUser(RunSession {
            pid: session.pid,
            uid: session.uid,
            version: session.version,
            token_digest: digest,
        })),
        TokenRecord::Invitation(_)
        | TokenRecord::Verification(_)
        | TokenRecord::Reset(_)
        | TokenRecord::RunReset(_) => {
            Err(unauthenticated("this kind of token cannot be used here"))
        }
        TokenRecord::Profile(token) => {
            let epoch = now.timestamp();
            if token.last_used_epoch + LAST_USED_EVERY_SECONDS <= epoch {
                // Guarded: a revoked token is never re-created, and two requests in the same
                // minute write once.
                let touched = app
                    .table
                    .update(
                        &key,
                        Update::new()
                            .set("last_used_at", now.to_rfc3339())
                            .set("last_used_epoch", epoch),
                        Some(Condition::All(vec![
                            Condition::Exists,
                            Condition::Below(
                                "last_used_epoch".into(),
                                epoch - LAST_USED_EVERY_SECONDS + 1,
                            ),
                        ])),
                    )
                    .await;
                match touched {
                    Ok(_) | Err(StoreError::ConditionFailed) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            Ok(Bearer::Team(Principal::Token {
                tid: token.tid,
                pid: token.pid,
                aid: token.aid,
                permission: token.permission,
            }))
        }
    }
}

/// Clears a session-only route: API tokens are refused.
pub fn for_session(principal: &Principal) -> Decided<()> {
    match principal {
        Principal::Account { .. } => Ok(()),
        Principal::Token { .. } => Err(Refusal::Forbidden(
            "this route needs a login session, not an API token".into(),
        )),
    }
}

/// Clears `principal` for profile `pid` when it holds at least `need` there and, for a token,
/// its permission covers `intent` in `area`. Someone who is not on the profile (or a token of
/// another profile) gets 404, exactly as for a profile that does not exist. A `Metered` route
/// then counts one `api_requests` use (refused past the limit); an unmetered one writes nothing.
/// The membership and the profile are taken from `ahead` when they were read there (with the
/// token, on its claim, `secrets::claim`: the claimed account is the principal's), and read
/// otherwise, at the same time.
pub async fn for_profile(
    app: &App,
    principal: Principal,
    pid: Uuid,
    (need, area, metering): (Role, Area, RequestMetering),
    intent: Intent,
    ahead: &ReadsAhead,
) -> Decided<ProfileCaller> {
    if let Principal::Token {
        pid: token_pid,
        permission,
        ..
    } = &principal
    {
        if *token_pid != pid {
            return Err(Refusal::not_found());
        }
        permission_covers(*permission, intent, area)?;
    }
    let member_key = keys::profile_member(pid, principal.account_id());
    let profile_key = keys::profile(pid);
    let [member, profile] = ahead
        .got_or_read(app.table.as_ref(), [&member_key, &profile_key])
        .await?;
    let (Some(member), Some(profile)) = (member, profile) else {
        return Err(Refusal::not_found());
    };
    let member: MemberRecord = keys::from_item(member)?;
    let profile: ProfileRecord = keys::from_item(profile)?;
    if member.role < need {
        return Err(Refusal::Forbidden(format!(
            "this needs the {} role on the profile",
            spelling(&need)
        )));
    }
    if metering == RequestMetering::Metered {
        usage::count_request(app, &profile).await?;
    }
    Ok(ProfileCaller {
        pid,
        role: member.role,
        principal,
        profile,
    })
}

/// Clears an application route of profile `pid` for anyone: the profile must exist (404
/// otherwise), and the request counts one `api_requests` use (refused past the limit).
pub async fn for_application(app: &App, pid: Uuid) -> Decided<Visitor> {
    let item = app
        .table
        .get(&keys::profile(pid))
        .await?
        .ok_or_else(Refusal::not_found)?;
    let profile: ProfileRecord = keys::from_item(item)?;
    usage::count_request(app, &profile).await?;
    Ok(Visitor { profile })
}

/// Clears a run user's session: the user (read with the profile, at the same time) still
/// exists, is active, and has not ended its sessions since this one opened (a new password,
/// a deactivation). Counts one `api_requests` use of the profile. The user and the profile are
/// taken from `ahead` when they were read there (with the session, on its claim,
/// `secrets::pair_claim`), and read otherwise.
pub async fn for_run_user(
    app: &App,
    session: RunSession,
    ahead: &ReadsAhead,
) -> Decided<RunCaller> {
    let user_key = keys::run_user(session.pid, session.uid);
    let profile_key = keys::profile(session.pid);
    let [user, profile] = ahead
        .got_or_read(app.table.as_ref(), [&user_key, &profile_key])
        .await?;
    let ended = || unauthenticated("the session has ended");
    let (Some(user), Some(profile)) = (user, profile) else {
        return Err(ended());
    };
    let user: RunUserRecord = keys::from_item(user)?;
    if !user.active || user.session_version != session.version {
        return Err(ended());
    }
    let profile: ProfileRecord = keys::from_item(profile)?;
    usage::count_request(app, &profile).await?;
    Ok(RunCaller {
        session,
        user,
        profile,
    })
}

/// What each token permission allows: `read` reads outside governance, `write` anything
/// outside governance, `full` everything its creator may do.
pub fn permission_covers(permission: Permission, intent: Intent, area: Area) -> Decided<()> {
    let allowed = match permission {
        Permission::Full => true,
        Permission::Write => area == Area::App,
        Permission::Read => area == Area::App && intent == Intent::Read,
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::Forbidden(format!(
            "a {} token cannot do this",
            spelling(&permission)
        )))
    }
}
