//! A profile's API tokens: issued only after the password is re-entered, shown once, stored as
//! SHA-256, listed without secrets, revoked at once. A token acts as its creator on its one
//! profile, capped by its permission.

use chrono::{DateTime, Months, Utc};
use uuid::Uuid;

use super::access::ProfileCaller;
use super::audit::{Audit, Scope};
use super::credentials;
use super::records::{
    Action, ApiTokenRecord, Permission, ProfileRecord, Role, Target, TokenRecord,
};
use super::throttle::Passed;
use super::tx::Tx;
use super::usage;
use super::validate;
use crate::app::App;
use crate::catalogue::Service;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::secrets::{self, SecretKind};
use crate::store::{Condition, Key, Query, Write, query_all, query_first};

/// When a new token expires, as the client asked.
pub enum Expiry {
    /// An RFC 3339 time in the future.
    At(String),
    /// `"3 hours"`, `"1 day"`, `"2 weeks"`, `"1 month"`, `"1 year"`, … or `"never"`.
    In(String),
}

pub struct NewToken {
    pub name: String,
    pub permission: Permission,
    pub expiry: Expiry,
    pub password: String,
}

impl Expiry {
    /// The body field the client gave it in.
    fn field(&self) -> &'static str {
        match self {
            Expiry::At(_) => "expires_at",
            Expiry::In(_) => "expires_in",
        }
    }
}

/// The longest a token may be issued for (except `never`).
const MAX_YEARS: u32 = 10;

/// The expiry time `expiry` names, counted from `now`; `None` for a token that never expires.
pub fn expires_at(expiry: &Expiry, now: DateTime<Utc>) -> Decided<Option<DateTime<Utc>>> {
    let bad = |field: &str, detail: String| Refusal::invalid(field, detail);
    let latest = now
        .checked_add_months(Months::new(12 * MAX_YEARS))
        .ok_or(Refusal::Internal)?;
    let at = match expiry {
        Expiry::At(text) if text.trim().eq_ignore_ascii_case("never") => return Ok(None),
        Expiry::In(text) if text.trim().eq_ignore_ascii_case("never") => return Ok(None),
        Expiry::At(text) => DateTime::parse_from_rfc3339(text.trim())
            .map_err(|_| bad("expires_at", format!("`{text}` is not an RFC 3339 time")))?
            .with_timezone(&Utc),
        Expiry::In(text) => {
            let mut words = text.split_whitespace();
            let (Some(count), Some(unit), None) = (words.next(), words.next(), words.next()) else {
                return Err(bad(
                    "expires_in",
                    format!(
                        "`{text}` should read like \"3 hours\", \"1 day\", \"2 weeks\", \"1 month\", \"1 year\" or \"never\""
                    ),
                ));
            };
            let count: u32 = count
                .parse()
                .ok()
                .filter(|count| *count > 0)
                .ok_or_else(|| {
                    bad(
                        "expires_in",
                        format!("`{count}` is not a positive whole number"),
                    )
                })?;
            let unit = unit.to_ascii_lowercase();
            let unit = unit.strip_suffix('s').unwrap_or(&unit);
            let n = i64::from(count);
            match unit {
                "minute" => now.checked_add_signed(chrono::Duration::minutes(n)),
                "hour" => now.checked_add_signed(chrono::Duration::hours(n)),
                "day" => now.checked_add_signed(chrono::Duration::days(n)),
                "week" => now.checked_add_signed(chrono::Duration::weeks(n)),
                "month" => now.checked_add_months(Months::new(count)),
                "year" => count
                    .checked_mul(12)
                    .and_then(|m| now.checked_add_months(Months::new(m))),
                _ => {
                    return Err(bad(
                        "expires_in",
                        format!(
                            "unknown unit `{unit}` (minutes, hours, days, weeks, months, years)"
                        ),
                    ));
                }
            }
            .ok_or_else(|| bad("expires_in", "too far ahead".into()))?
        }
    };
    if at <= now {
        return Err(bad(
            expiry.field(),
            "the expiry must be in the future".into(),
        ));
    }
    if at > latest {
        return Err(bad(
            expiry.field(),
            format!("a token can be issued for at most {MAX_YEARS} years (or \"never\")"),
        ));
    }
    Ok(Some(at))
}

/// Issues a token on the caller's profile, acting as the caller. Returns the record and the
/// secret, which is never shown again.
pub async fn issue(
    app: &App,
    caller: &ProfileCaller,
    input: NewToken,
    by: &Audit,
) -> Decided<(ApiTokenRecord, String)> {
    let name = validate::name("name", &input.name)?;
    let now = app.now();
    let expires_at = expires_at(&input.expiry, now)?;
    let aid = caller.principal.account_id();
    let account = credentials::load(app, aid).await?;
    let passed = credentials::check_password(app, &account, &input.password).await?;
    let token = Issued {
        aid,
        name,
        permission: input.permission,
        expires_at,
    };
    store(app, &caller.profile, token, Some(&passed), by).await
}

/// A token to store: who it acts as, its name, permission and expiry.
struct Issued {
    aid: Uuid,
    name: String,
    permission: Permission,
    expires_at: Option<DateTime<Utc>>,
}

/// Stores a new token of `profile` acting as `aid`, counted against the profile's `tokens`
/// limit in the same transaction (the caller has checked the password and the expiry).
/// Returns the record and the secret.
pub async fn create(
    app: &App,
    profile: &ProfileRecord,
    aid: Uuid,
    name: String,
    permission: Permission,
    expires_at: Option<DateTime<Utc>>,
    by: &Audit,
) -> Decided<(ApiTokenRecord, String)> {
    let token = Issued {
        aid,
        name,
        permission,
        expires_at,
    };
    store(app, profile, token, None, by).await
}

/// Stores a new token of `profile`, counted against the profile's `tokens` limit in the same
/// transaction, which a re-entered password's throttle conditions (`passed`) guard. Returns the
/// record and the secret.
async fn store(
    app: &App,
    profile: &ProfileRecord,
    token: Issued,
    passed: Option<&Passed>,
    by: &Audit,
) -> Decided<(ApiTokenRecord, String)> {
    let Issued {
        aid,
        name,
        permission,
        expires_at,
    } = token;
    let pid = profile.pid;
    let now = app.now();
    let gauge = usage::gauge_writes(profile, Service::Tokens, 1, now)?;
    let secret =
        secrets::generate_for(SecretKind::ProfileToken, aid).map_err(|_| Refusal::Internal)?;
    let record = ApiTokenRecord {
        tid: Uuid::now_v7(),
        pid,
        aid,
        name,
        permission,
        created_at: now,
        expires_at,
        last_used_at: None,
        last_used_epoch: 0,
        ttl: expires_at.map(|at| at.timestamp()),
    };
    let item = keys::to_indexed_item(
        &keys::token(&secrets::digest(&secret)),
        (
            &keys::profile_tokens(pid),
            &keys::token_index_sk(record.tid),
        ),
        &TokenRecord::Profile(record.clone()),
    )?;
    let mut tx = Tx::new();
    if let Some(passed) = passed {
        passed.guard(&mut tx);
    }
    if let Some(expires_at) = expires_at {
        // The expiry warnings, each filed under the hour it falls due.
        tx.add_all(super::due::token_warnings(
            now,
            (pid, record.tid),
            expires_at,
        )?);
    }
    tx.add(Write::put_new(item)).append(gauge).add(by.write(
        now,
        Scope::Profile(pid),
        Action::TokenCreated,
        Target::new("token", record.tid),
        &["name", "permission", "expires_at"],
    )?);
    tx.commit(app.table.as_ref()).await?;
    Ok((record, secret))
}

/// The query of profile `pid`'s API tokens.
pub fn tokens_query(pid: Uuid) -> Query {
    Query::gsi1(keys::profile_tokens(pid))
}

/// The query of profile `pid`'s API token `tid` (its first page holds it, if it exists).
pub fn token_query(pid: Uuid, tid: Uuid) -> Query {
    tokens_query(pid).prefix(keys::token_index_sk(tid)).limit(1)
}

/// The profile's tokens the caller may see: all of them for the owner and admins, their own
/// for members. One query.
pub async fn list(app: &App, caller: &ProfileCaller) -> Decided<Vec<ApiTokenRecord>> {
    let items = query_all(app.table.as_ref(), tokens_query(caller.pid)).await?;
    let mut tokens = Vec::with_capacity(items.len());
    for item in items {
        if let TokenRecord::Profile(token) = keys::from_item(item)?
            && sees(caller, &token)
        {
            tokens.push(token);
        }
    }
    Ok(tokens)
}

/// The keys of the API tokens `aid` made on profile `pid` (expired ones included: they count
/// until they are gone). One query.
pub async fn of_member(app: &App, pid: Uuid, aid: Uuid) -> Decided<Vec<Key>> {
    let items = query_all(app.table.as_ref(), tokens_query(pid)).await?;
    let mut keys = Vec::new();
    for item in items {
        let key = Key::of(&item).ok_or(Refusal::Internal)?;
        if let TokenRecord::Profile(token) = keys::from_item(item)?
            && token.aid == aid
        {
            keys.push(key);
        }
    }
    Ok(keys)
}

fn sees(caller: &ProfileCaller, token: &ApiTokenRecord) -> bool {
    caller.role >= Role::Admin || token.aid == caller.principal.account_id()
}

/// Revokes a token; from the next request on it is refused. Members may revoke only their own.
pub async fn revoke(app: &App, caller: &ProfileCaller, tid: Uuid, by: &Audit) -> Decided<()> {
    let item = query_first(app.table.as_ref(), token_query(caller.pid, tid))
        .await?
        .ok_or_else(Refusal::not_found)?;
    let key = Key::of(&item).ok_or(Refusal::Internal)?;
    let TokenRecord::Profile(token) = keys::from_item(item)? else {
        return Err(Refusal::not_found());
    };
    if !sees(caller, &token) {
        return Err(Refusal::not_found());
    }
    let gone = Refusal::NotFound("the token was revoked meanwhile".into());
    let mut tx = Tx::new();
    tx.add_or(Write::delete(key).when(Condition::Exists), gone.clone())
        .append(usage::gauge_writes(
            &caller.profile,
            Service::Tokens,
            -1,
            app.now(),
        )?)
        .add(by.write(
            app.now(),
            Scope::Profile(caller.pid),
            Action::TokenRevoked,
            Target::new("token", tid),
            &[],
        )?);
    match tx.commit(app.table.as_ref()).await {
        // Revoked meanwhile by someone else: gone all the same.
        Err(refusal) if refusal == gone => Ok(()),
        outcome => outcome,
    }
}
