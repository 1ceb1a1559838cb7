//! Which change records the handler acts on, told from the record alone: its key, which images
//! it has, whether TTL removed it. [`super::handle`] dispatches on [`acts_on`] and nothing else,
//! so the Lambda event filter of the stream mapping (`FilterCriteria` in `infra/template.yaml`)
//! is tested against this one function (`tests/tests/stream_filter.rs`).

use crate::keys;
use crate::store::Change;

/// What the handler does with a change record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An API token removed by TTL after it expired: its profile's `tokens` gauge falls.
    TokenExpired,
    /// An account written (inserted or modified): a verification e-mail per `verify_version`.
    Account,
    /// A password-reset request inserted: the reset e-mail.
    ResetRequest,
    /// A run user's password-reset request inserted: the reset e-mail.
    RunResetRequest,
    /// An invitation written: the invitation e-mail (new `version`), or the accepted note.
    Invitation,
    /// A pending purge written: the profile's purge is finished.
    PendingPurge,
    /// A profile modified: gauge alerts.
    ProfileGauges,
    /// A month's usage counters written: monthly alerts.
    UsageCounters,
}

/// The `kind` of an API token's item (`TokenRecord::Profile`, serde's tag): the only token whose
/// expiry the handler acts on.
pub const API_TOKEN_KIND: &str = "profile";

/// What the handler does with `change`, or `None` when it certainly does nothing with it
/// (sessions, sent-markers, counters, run users, policies, memberships, every removal but an
/// API token's expiry, ...). A `Some` may still end in nothing (an invitation modified without
/// a new version, a usage change that crosses no threshold): that depends on the images' values.
pub fn acts_on(change: &Change) -> Option<Kind> {
    let key = &change.key;
    let inserted = change.old.is_none() && change.new.is_some();
    let written = change.new.is_some();
    let modified = change.old.is_some() && change.new.is_some();
    if change.expired && keys::is_token(key) {
        let old_kind = change
            .old
            .as_ref()
            .and_then(|old| old.get("kind"))
            .and_then(serde_json::Value::as_str);
        (old_kind == Some(API_TOKEN_KIND)).then_some(Kind::TokenExpired)
    } else if keys::is_account(key) {
        written.then_some(Kind::Account)
    } else if keys::is_reset_request(key) {
        inserted.then_some(Kind::ResetRequest)
    } else if keys::is_run_reset_request(key) {
        inserted.then_some(Kind::RunResetRequest)
    } else if key.sk.starts_with(keys::INVITE_PREFIX) {
        written.then_some(Kind::Invitation)
    } else if keys::is_pending_purge(key) {
        written.then_some(Kind::PendingPurge)
    } else if keys::is_profile(key) {
        modified.then_some(Kind::ProfileGauges)
    } else if keys::is_usage_counters(key) {
        written.then_some(Kind::UsageCounters)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::store::Item;

    #[test]
    fn an_api_token_item_carries_the_kind_acts_on_looks_for() {
        use crate::domain::records::{ApiTokenRecord, Permission, TokenRecord};
        let token = TokenRecord::Profile(ApiTokenRecord {
            tid: Uuid::nil(),
            pid: Uuid::nil(),
            aid: Uuid::nil(),
            name: "ci".into(),
            permission: Permission::Read,
            created_at: chrono::DateTime::UNIX_EPOCH,
            expires_at: None,
            last_used_at: None,
            last_used_epoch: 0,
            ttl: Some(1),
        });
        let key = keys::token("digest");
        let item = keys::to_item(&key, &token).expect("an item");
        assert_eq!(item["kind"], API_TOKEN_KIND);
        let expired = |old: Option<Item>| Change {
            key: key.clone(),
            old,
            new: None,
            expired: true,
        };
        assert_eq!(
            acts_on(&expired(Some(item.clone()))),
            Some(Kind::TokenExpired)
        );
        let mut session = item.clone();
        session.insert("kind".into(), "session".into());
        assert_eq!(acts_on(&expired(Some(session))), None);
        // Removed by a request (a revocation): the request lowered the gauge itself.
        let revoked = Change {
            expired: false,
            ..expired(Some(item))
        };
        assert_eq!(acts_on(&revoked), None);
    }

    #[test]
    fn acts_on_looks_at_which_images_the_record_has() {
        let image = || Some(Item::new());
        let change = |key: crate::store::Key, old: Option<Item>, new: Option<Item>| Change {
            key,
            old,
            new,
            expired: false,
        };
        let (aid, pid, rid) = (Uuid::nil(), Uuid::nil(), Uuid::max());
        let reset = keys::reset_request(aid, rid);
        assert_eq!(
            acts_on(&change(reset.clone(), None, image())),
            Some(Kind::ResetRequest)
        );
        assert_eq!(acts_on(&change(reset.clone(), image(), image())), None);
        assert_eq!(acts_on(&change(reset, image(), None)), None);
        let profile = keys::profile(pid);
        assert_eq!(acts_on(&change(profile.clone(), None, image())), None);
        assert_eq!(
            acts_on(&change(profile, image(), image())),
            Some(Kind::ProfileGauges)
        );
        let levels = keys::usage_levels(pid, "2025-01");
        assert_eq!(acts_on(&change(levels, None, image())), None);
        let purge = keys::pending_purge(pid);
        assert_eq!(
            acts_on(&change(purge.clone(), None, image())),
            Some(Kind::PendingPurge)
        );
        assert_eq!(acts_on(&change(purge, image(), None)), None);
    }
}
