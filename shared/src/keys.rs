//! The single-table key design of DESIGN.md, written once. Every item a tenant owns lives under
//! its own partition (`PROFILE#<pid>`), or names that profile in an attribute we can find it by.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::email::Email;
use crate::store::{GSI1PK, GSI1SK, Item, Key, StoreError};

pub fn account(aid: Uuid) -> Key {
    Key::new(format!("ACCOUNT#{aid}"), "ACCOUNT")
}

/// The claim that makes an e-mail unique.
pub fn email_claim(email: &Email) -> Key {
    Key::new(format!("EMAIL#{email}"), "EMAIL")
}

pub fn account_member(aid: Uuid, pid: Uuid) -> Key {
    Key::new(format!("ACCOUNT#{aid}"), format!("MEMBER#{pid}"))
}

pub fn account_partition(aid: Uuid) -> String {
    format!("ACCOUNT#{aid}")
}

pub fn profile(pid: Uuid) -> Key {
    Key::new(profile_partition(pid), "PROFILE")
}

pub fn profile_partition(pid: Uuid) -> String {
    format!("PROFILE#{pid}")
}

pub fn profile_member(pid: Uuid, aid: Uuid) -> Key {
    Key::new(profile_partition(pid), format!("MEMBER#{aid}"))
}

/// A session or API token, by the SHA-256 of its secret.
pub fn token(digest: &str) -> Key {
    Key::new(format!("TOKEN#{digest}"), "TOKEN")
}

pub const MEMBER_PREFIX: &str = "MEMBER#";

/// The GSI1 partition that lists an account's login sessions (so all can be revoked).
pub fn account_sessions(aid: Uuid) -> String {
    format!("SESSIONS#{aid}")
}

/// The GSI1 sort key of one session.
pub fn session_index_sk(digest: &str) -> String {
    format!("SESSION#{digest}")
}

pub const RESET_PREFIX: &str = "RESET#";

/// A password-reset request, in its account's partition.
pub fn reset_request(aid: Uuid, rid: Uuid) -> Key {
    Key::new(account_partition(aid), format!("{RESET_PREFIX}{rid}"))
}

/// Counts an account's password-reset requests within one hour (`yyyy-mm-ddThh`).
pub fn reset_rate(aid: Uuid, hour: &str) -> Key {
    Key::new(account_partition(aid), format!("RATE#RESET#{hour}"))
}

/// Counts an account's verification-link requests within one hour (`yyyy-mm-ddThh`).
pub fn verification_rate(aid: Uuid, hour: &str) -> Key {
    Key::new(account_partition(aid), format!("RATE#VERIFY#{hour}"))
}

/// Whether `key` is an account item.
pub fn is_account(key: &Key) -> bool {
    key.sk == "ACCOUNT" && key.pk.starts_with("ACCOUNT#")
}

/// Whether `key` is a password-reset request.
pub fn is_reset_request(key: &Key) -> bool {
    key.pk.starts_with("ACCOUNT#") && key.sk.starts_with(RESET_PREFIX)
}

/// The failed-login counter of one e-mail (whether or not an account has it) for the fixed
/// window that starts at `window_start` (Unix seconds).
pub fn login_throttle_email(email: &Email, window_start: i64) -> Key {
    Key::new(
        format!("THROTTLE#EMAIL#{email}"),
        throttle_window(window_start),
    )
}

/// The same for a string that is not an e-mail address at all, by its SHA-256 (hex), so the key
/// stays short whatever the client sent.
pub fn login_throttle_unparsed(digest: &str, window_start: i64) -> Key {
    Key::new(
        format!("THROTTLE#EMAIL#?{digest}"),
        throttle_window(window_start),
    )
}

/// The failed-login counter of one source address (or IPv6 /64) for one fixed window.
pub fn login_throttle_address(address: &str, window_start: i64) -> Key {
    Key::new(
        format!("THROTTLE#IP#{address}"),
        throttle_window(window_start),
    )
}

fn throttle_window(window_start: i64) -> String {
    format!("WINDOW#{window_start}")
}

/// Serialises `value` into an item stored under `key`.
pub fn to_item<T: Serialize>(key: &Key, value: &T) -> Result<Item, StoreError> {
    let mut item = match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => {
            return Err(StoreError::Invalid(format!(
                "a record for {} / {} is not an object",
                key.pk, key.sk
            )));
        }
    };
    item.insert("PK".into(), key.pk.clone().into());
    item.insert("SK".into(), key.sk.clone().into());
    Ok(crate::store::strip_nulls(item))
}

/// The same, also placed in the secondary index.
pub fn to_indexed_item<T: Serialize>(
    key: &Key,
    gsi1: (&str, &str),
    value: &T,
) -> Result<Item, StoreError> {
    let mut item = to_item(key, value)?;
    item.insert(GSI1PK.into(), gsi1.0.into());
    item.insert(GSI1SK.into(), gsi1.1.into());
    Ok(item)
}

/// Reads a stored item back into its record type (the key attributes are not part of it).
pub fn from_item<T: DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    for attr in ["PK", "SK", GSI1PK, GSI1SK] {
        item.remove(attr);
    }
    serde_json::from_value(serde_json::Value::Object(item)).map_err(|error| {
        StoreError::Invalid(format!(
            "a stored item does not match its record type: {error}"
        ))
    })
}

/// The GSI1 partition that lists a profile's API tokens.
pub fn profile_tokens(pid: Uuid) -> String {
    format!("TOKENS#{pid}")
}

/// The GSI1 sort key of one API token.
pub fn token_index_sk(tid: Uuid) -> String {
    format!("TOKEN#{tid}")
}

pub fn invitation(pid: Uuid, iid: Uuid) -> Key {
    Key::new(profile_partition(pid), invitation_sk(iid))
}

pub const INVITE_PREFIX: &str = "INVITE#";

/// The sort key of an invitation, in its profile's partition and in the invitee's GSI1 list.
pub fn invitation_sk(iid: Uuid) -> String {
    format!("{INVITE_PREFIX}{iid}")
}

/// The sort keys from the first invitation to the last member of a profile (the team query).
pub fn team_range() -> (String, String) {
    (INVITE_PREFIX.to_owned(), format!("{MEMBER_PREFIX}~"))
}

/// The GSI1 partition of the invitations addressed to one (normalised) e-mail.
pub fn invitee(email: &Email) -> String {
    format!("INVITEE#{email}")
}

/// Marks the one pending invitation a profile may have for an e-mail.
pub fn pending_invitation(pid: Uuid, email: &Email) -> Key {
    Key::new(profile_partition(pid), format!("PENDING#{email}"))
}

/// Counts a profile's invitations within one hour (`yyyy-mm-ddThh`).
pub fn invitation_rate(pid: Uuid, hour: &str) -> Key {
    Key::new(profile_partition(pid), format!("RATE#INVITES#{hour}"))
}

/// Counts the invitations one account sends within one day (`yyyy-mm-dd`), across all the
/// profiles it belongs to.
pub fn account_invitation_rate(aid: Uuid, day: &str) -> Key {
    Key::new(account_partition(aid), format!("RATE#INVITES#{day}"))
}

/// The key the paging cursors are signed with, when no `CURSOR_SECRET` is configured: made
/// once, stored here, read by every process.
pub fn cursor_key() -> Key {
    Key::new("SECRET#CURSOR", "SECRET")
}

/// The partition of the profiles deleted whose items are still being removed.
pub const PURGES: &str = "PURGE";

/// A deleted profile whose items are still being removed: written in the transaction that
/// deletes the profile, removed last by the purge. Its insertion on the stream (or the embedded
/// feed) runs the purge again, so a purge cut short by a failure always finishes.
pub fn pending_purge(pid: Uuid) -> Key {
    Key::new(PURGES, format!("PROFILE#{pid}"))
}

/// Whether `key` is a pending purge.
pub fn is_pending_purge(key: &Key) -> bool {
    key.pk == PURGES
}

/// The sent-marker of one change record: written (with a condition) before its e-mail goes.
pub fn notification_marker(event_id: &str) -> Key {
    Key::new(format!("NOTIFIED#{event_id}"), "NOTIFIED")
}

pub const USAGE_PREFIX: &str = "USAGE#";
const LEVELS_SUFFIX: &str = "#LEVELS";

/// A profile's usage item for one month (`yyyy-mm`): the monthly counters, per month and day.
pub fn usage(pid: Uuid, month: &str) -> Key {
    Key::new(profile_partition(pid), format!("{USAGE_PREFIX}{month}"))
}

/// A profile's gauge levels for one month (beside its usage item, so one query reads both).
pub fn usage_levels(pid: Uuid, month: &str) -> Key {
    Key::new(
        profile_partition(pid),
        format!("{USAGE_PREFIX}{month}{LEVELS_SUFFIX}"),
    )
}

/// The sort keys of the usage items from month `first` to month `last`, both included.
pub fn usage_range(first: &str, last: &str) -> (String, String) {
    (
        format!("{USAGE_PREFIX}{first}"),
        format!("{USAGE_PREFIX}{last}#~"),
    )
}

/// Whether `key` is a month's usage counters (not its gauge levels).
pub fn is_usage_counters(key: &Key) -> bool {
    key.sk.starts_with(USAGE_PREFIX) && !key.sk.ends_with(LEVELS_SUFFIX)
}

/// Whether `key` is a profile item.
pub fn is_profile(key: &Key) -> bool {
    key.sk == "PROFILE"
}

/// Whether `key` is a token item (a session, an API token, a link).
pub fn is_token(key: &Key) -> bool {
    key.pk.starts_with("TOKEN#")
}

/// The profile whose partition `key` lies in.
pub fn profile_of(key: &Key) -> Option<Uuid> {
    key.pk
        .strip_prefix("PROFILE#")
        .and_then(|id| Uuid::parse_str(id).ok())
}

// Run users (a profile's end users), all in their profile's partition.

pub const RUN_USER_PREFIX: &str = "RUNUSER#";
pub const RUN_EMAIL_PREFIX: &str = "RUNEMAIL#";
pub const RUN_NAME_PREFIX: &str = "RUNNAME#";
pub const RUN_TAG_PREFIX: &str = "RUNTAG#";
pub const RUN_RESET_PREFIX: &str = "RUNRESET#";

/// A run user's record.
pub fn run_user(pid: Uuid, uid: Uuid) -> Key {
    Key::new(profile_partition(pid), format!("{RUN_USER_PREFIX}{uid}"))
}

/// The claim that makes a run user's e-mail unique within its profile; sorted by e-mail, so it
/// is also the list's e-mail order and the e-mail half of the `q` search.
pub fn run_email_claim(pid: Uuid, email: &Email) -> Key {
    Key::new(profile_partition(pid), format!("{RUN_EMAIL_PREFIX}{email}"))
}

/// A run user's entry in the name index (lower-cased name, then the id): the list's name order
/// and the name half of the `q` search.
pub fn run_name_entry(pid: Uuid, lowered_name: &str, uid: Uuid) -> Key {
    Key::new(
        profile_partition(pid),
        format!("{RUN_NAME_PREFIX}{}#{uid}", escape_part(lowered_name)),
    )
}

/// The sort-key prefix of every name-index entry whose (lower-cased) name starts with `prefix`.
pub fn run_name_prefix(prefix: &str) -> String {
    format!("{RUN_NAME_PREFIX}{}", escape_part(prefix))
}

/// A run user's entry in the index of one tag (`key` = `value`): a tag filter reads only the
/// users that carry the tag, in id (creation) order.
pub fn run_tag_entry(pid: Uuid, key: &str, value: &str, uid: Uuid) -> Key {
    Key::new(
        profile_partition(pid),
        format!("{}{uid}", run_tag_prefix(key, value)),
    )
}

/// The sort-key prefix of the entries of one tag.
pub fn run_tag_prefix(key: &str, value: &str) -> String {
    format!(
        "{RUN_TAG_PREFIX}{}#{}#",
        escape_part(key),
        escape_part(value)
    )
}

/// The registry of every tag key used in a profile (one attribute per key): the export's
/// columns, known without reading the users.
pub fn run_tag_keys(pid: Uuid) -> Key {
    Key::new(profile_partition(pid), "RUNTAGKEYS")
}

/// A profile's sign-up settings.
pub fn run_settings(pid: Uuid) -> Key {
    Key::new(profile_partition(pid), "RUNSETTINGS")
}

/// A run user's password-reset request: its insertion makes the notifications handler e-mail
/// a link.
pub fn run_reset_request(pid: Uuid, rid: Uuid) -> Key {
    Key::new(profile_partition(pid), format!("{RUN_RESET_PREFIX}{rid}"))
}

/// Whether `key` is a run user's password-reset request.
pub fn is_run_reset_request(key: &Key) -> bool {
    key.pk.starts_with("PROFILE#") && key.sk.starts_with(RUN_RESET_PREFIX)
}

/// Counts one run user's reset requests within one hour (`yyyy-mm-ddThh`).
pub fn run_reset_rate(pid: Uuid, uid: Uuid, hour: &str) -> Key {
    Key::new(
        profile_partition(pid),
        format!("RATE#RUNRESET#{uid}#{hour}"),
    )
}

/// The failed-login counter of one e-mail on one profile's run-user login, for one window:
/// run users of different profiles are different people.
pub fn run_login_throttle(pid: Uuid, email_part: &str, window_start: i64) -> Key {
    Key::new(
        format!("THROTTLE#RUN#{pid}#{email_part}"),
        throttle_window(window_start),
    )
}

/// A part of a sort key that holds client text, escaped so that `#` only ever separates parts
/// (`%` → `%25`, `#` → `%23`). Character by character, so prefixes stay prefixes.
pub fn escape_part(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => escaped.push_str("%25"),
            '#' => escaped.push_str("%23"),
            other => escaped.push(other),
        }
    }
    escaped
}

// Access policies, in their profile's partition (the policy-set version is an attribute of the
// profile item).

pub const POLICY_PREFIX: &str = "POLICY#";

/// A saved policy.
pub fn policy(pid: Uuid, id: Uuid) -> Key {
    Key::new(profile_partition(pid), format!("{POLICY_PREFIX}{id}"))
}

/// A profile's resource catalogue (absent: the default one).
pub fn resource_types(pid: Uuid) -> Key {
    Key::new(profile_partition(pid), "RESOURCETYPES")
}

// The audit log: entries in the partition of the profile or account they concern.

pub const AUDIT_PREFIX: &str = "AUDIT#";

/// One audit entry (`id` a UUID v7, so sort keys run in time order) in `partition`
/// (`PROFILE#<pid>` or `ACCOUNT#<aid>`).
pub fn audit_entry(partition: &str, id: Uuid) -> Key {
    Key::new(partition, format!("{AUDIT_PREFIX}{id}"))
}

/// Sort-key bounds of the audit entries from millisecond `first_ms` to `last_ms` (Unix time,
/// both included): a UUID v7 starts with its 48-bit millisecond timestamp in hex
/// (`xxxxxxxx-xxxx-…`), so a time range is a key range.
pub fn audit_range(first_ms: i64, last_ms: i64) -> (String, String) {
    let bound = |ms: i64| {
        let ms = ms.clamp(0, (1 << 48) - 1) as u64;
        format!("{AUDIT_PREFIX}{:08x}-{:04x}", ms >> 16, ms & 0xffff)
    };
    (bound(first_ms), format!("{}~", bound(last_ms)))
}

/// Whether `key` is an audit entry.
pub fn is_audit_entry(key: &Key) -> bool {
    key.sk.starts_with(AUDIT_PREFIX)
}

// Scheduled maintenance: what falls due in one hour (`yyyy-mm-ddThh`), and how far the job got.

/// A due marker: `DUE#<hour>` / `<what>` (`TOKENWARN#<days>#<tid>`, `UNVERIFIED#<aid>`).
/// The hour `at` falls in, `yyyy-mm-ddThh`: the sort key of hourly windows and the partition of
/// due markers.
pub fn hour_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H").to_string()
}

/// The day `at` falls in, `yyyy-mm-dd`.
pub fn day_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

pub fn due(hour: &str, what: &str) -> Key {
    Key::new(due_partition(hour), what)
}

pub fn due_partition(hour: &str) -> String {
    format!("DUE#{hour}")
}

/// The last hour whose due markers the maintenance job finished.
pub fn maintenance_checkpoint() -> Key {
    Key::new("MAINTENANCE", "CHECKPOINT")
}
