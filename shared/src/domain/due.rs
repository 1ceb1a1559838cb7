//! Due markers (DESIGN.md "Scheduled maintenance"): what the maintenance job must do, filed
//! under the hour it falls due (`DUE#<yyyy-mm-ddThh>`), written in the same transaction as the
//! change that makes it due. The job reads only the partitions of the hours since it last
//! finished one, never the table; a marker made moot meanwhile (a revoked token, a verified
//! account) is found so when handled, and dropped.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::keys;
use crate::refusal::Decided;
use crate::store::{Key, Write};

/// A token's creator is warned this many days before it expires (once each).
pub const WARN_DAYS: [i64; 2] = [7, 1];
/// An account still unverified this many days after sign-up is deleted.
pub const UNVERIFIED_DAYS: i64 = 7;

/// One thing to do at `due_at`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "due", rename_all = "snake_case")]
pub enum DueRecord {
    /// E-mail the creator of token `tid` of profile `pid` that it expires in `days`. Ids and
    /// times only (the creator and the name are read from the token when it is handled): a
    /// marker left by a revoked token or a deleted profile names no one.
    TokenWarning {
        pid: Uuid,
        tid: Uuid,
        days: i64,
        expires_at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        ttl: i64,
    },
    /// Delete account `aid` if it is still unverified.
    UnverifiedAccount {
        aid: Uuid,
        due_at: DateTime<Utc>,
        ttl: i64,
    },
    /// Mark invitation `iid` of profile `pid` `expired` if it is still pending past its time.
    InvitationExpiry {
        pid: Uuid,
        iid: Uuid,
        due_at: DateTime<Utc>,
        ttl: i64,
    },
}

impl DueRecord {
    pub fn due_at(&self) -> DateTime<Utc> {
        match self {
            DueRecord::TokenWarning { due_at, .. }
            | DueRecord::UnverifiedAccount { due_at, .. }
            | DueRecord::InvitationExpiry { due_at, .. } => *due_at,
        }
    }
}

/// How long a marker is kept past its due time, should the job never come (it is moot then).
const KEEP_DAYS: i64 = 30;

/// The warnings of a new token that expires at `expires_at`: one per warning still ahead.
pub fn token_warnings(
    now: DateTime<Utc>,
    (pid, tid): (Uuid, Uuid),
    expires_at: DateTime<Utc>,
) -> Decided<Vec<Write>> {
    let mut writes = Vec::new();
    for days in WARN_DAYS {
        let due_at = expires_at - Duration::days(days);
        if due_at <= now {
            continue;
        }
        let record = DueRecord::TokenWarning {
            pid,
            tid,
            days,
            expires_at,
            due_at,
            ttl: (due_at + Duration::days(KEEP_DAYS)).timestamp(),
        };
        writes.push(Write::put(keys::to_item(
            &token_warning_key(days, tid, expires_at),
            &record,
        )?));
    }
    Ok(writes)
}

/// The clean-up of a new account `aid`, due `UNVERIFIED_DAYS` after `created_at`.
pub fn unverified_account(aid: Uuid, created_at: DateTime<Utc>) -> Decided<Write> {
    let due_at = created_at + Duration::days(UNVERIFIED_DAYS);
    let record = DueRecord::UnverifiedAccount {
        aid,
        due_at,
        ttl: (due_at + Duration::days(KEEP_DAYS)).timestamp(),
    };
    Ok(Write::put(keys::to_item(
        &unverified_key(aid, created_at),
        &record,
    )?))
}

/// Where the clean-up of account `aid`, created at `created_at`, is filed.
pub fn unverified_key(aid: Uuid, created_at: DateTime<Utc>) -> Key {
    let due_at = created_at + Duration::days(UNVERIFIED_DAYS);
    keys::due(&keys::hour_of(due_at), &format!("UNVERIFIED#{aid}"))
}

/// The expiry of invitation `iid` of profile `pid`, due when its time runs out (`expires_at`).
/// A resend files a new one; the old one is then found moot (the invitation's time moved on).
pub fn invitation_expiry(pid: Uuid, iid: Uuid, expires_at: DateTime<Utc>) -> Decided<Write> {
    let record = DueRecord::InvitationExpiry {
        pid,
        iid,
        due_at: expires_at,
        ttl: (expires_at + Duration::days(KEEP_DAYS)).timestamp(),
    };
    Ok(Write::put(keys::to_item(
        &invitation_expiry_key(iid, expires_at),
        &record,
    )?))
}

/// Where the expiry of invitation `iid`, running out at `expires_at`, is filed.
pub fn invitation_expiry_key(iid: Uuid, expires_at: DateTime<Utc>) -> Key {
    keys::due(
        &keys::hour_of(expires_at),
        &format!("INVITEEXP#{iid}#{}", expires_at.timestamp()),
    )
}

/// Where the warning `days` before token `tid` expires (at `expires_at`) is filed.
fn token_warning_key(days: i64, tid: Uuid, expires_at: DateTime<Utc>) -> Key {
    let due_at = expires_at - Duration::days(days);
    keys::due(&keys::hour_of(due_at), &format!("TOKENWARN#{days}#{tid}"))
}

/// Every marker a token created at `created_at` with this expiry was given (those of warnings
/// still ahead then), for a purge.
pub fn token_warning_keys(
    tid: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Vec<Key> {
    WARN_DAYS
        .iter()
        .filter(|days| expires_at - Duration::days(**days) > created_at)
        .map(|days| token_warning_key(*days, tid, expires_at))
        .collect()
}
