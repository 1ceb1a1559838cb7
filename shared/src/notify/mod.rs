//! Notifications: turns table changes (DynamoDB Streams records in AWS, the embedded store's
//! change feed locally) into e-mails. The same handler runs in both places.
//!
//! - an invitation created or resent (a new `version`): the invitation e-mail, with a fresh
//!   link secret prepared in the same transaction as the record's sent-marker;
//! - an invitation accepted: a note to the profile's owner (only to a verified e-mail);
//! - an account signed up or asking for a new verification link (a new `verify_version`): the
//!   verification e-mail, its link secret prepared like an invitation's;
//! - a password-reset request inserted (of an account, or of a profile's run user): the reset
//!   e-mail, its link prepared the same way;
//! - a profile deleted (its pending purge inserted): whatever the deleting request did not remove
//!   of what was under it (a failure half way) is removed now;
//! - an API token removed by TTL after it expired: its profile's `tokens` gauge falls (the one
//!   gauge change no request makes);
//! - a profile's use of a service crossing 80 %, 90 % or 100 % of its limit: an alert to the
//!   owner (monthly counters only rise within a month, so once per threshold per month; gauges
//!   alert on every rise across a threshold; only to a verified e-mail).
//!
//! An unverified account gets no e-mail but verification and password reset.
//!
//! Delivery is at least once: each record's e-mail is guarded by a sent-marker
//! (`NOTIFIED#<event id>`) written with a condition before the send, so a replayed record sends
//! nothing again; a failed send removes the marker and reports the record as failed.

pub mod emails;
mod kind;

pub use self::kind::{API_TOKEN_KIND, Kind, acts_on};

use uuid::Uuid;

use self::emails::{
    accepted_email, invitation_email, reset_email, run_reset_email, usage_email, verification_email,
};
use crate::app::App;
use crate::catalogue::{Metering, Service};
use crate::domain::records::{
    AccountRecord, InvitationRecord, InvitationStatus, PendingPurge, ProfileRecord,
    ResetRequestRecord, RunResetRequestRecord, TokenRecord, UsageRecord,
};
use crate::domain::tx::Tx;
use crate::domain::usage;
use crate::domain::{profiles, recovery, run_users, team, verification};
use crate::keys;
use crate::mail::{Email, Mailer};
use crate::refusal::Refusal;
use crate::store::{Change, Condition, Item, StoreError, Write};

/// One change record with its stream-unique id (the DynamoDB Streams `eventID`, or the embedded
/// feed's sequence number).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEvent {
    pub id: String,
    pub change: Change,
}

/// The thresholds, in percent of a limit, that trigger an alert.
pub const THRESHOLDS: [i64; 3] = [80, 90, 100];
/// How long a sent-marker is kept (replays come within the stream's 24 hours).
const MARKER_DAYS: i64 = 7;

/// Handles a batch, record by record; returns the ids of the records that failed (to be
/// reported as `batchItemFailures`, so only they are retried). Records already handled (a
/// replay) send nothing again.
pub async fn handle_batch(app: &App, mailer: &dyn Mailer, events: Vec<StreamEvent>) -> Vec<String> {
    let mut failed = Vec::new();
    for event in events {
        if let Err(error) = handle(app, mailer, &event).await {
            tracing::warn!(event = %event.id, %error, "a change record failed");
            failed.push(event.id);
        }
    }
    failed
}

/// Handles one record.
pub async fn handle(app: &App, mailer: &dyn Mailer, event: &StreamEvent) -> anyhow::Result<()> {
    match acts_on(&event.change) {
        Some(Kind::TokenExpired) => token_expired(app, event).await,
        Some(Kind::Account) => account_changed(app, mailer, event).await,
        Some(Kind::ResetRequest) => reset_requested(app, mailer, event).await,
        Some(Kind::RunResetRequest) => run_reset_requested(app, mailer, event).await,
        Some(Kind::Invitation) => invitation_changed(app, mailer, event).await,
        Some(Kind::PendingPurge) => purge_pending(app, event).await,
        Some(Kind::ProfileGauges) => gauges_changed(app, mailer, event).await,
        Some(Kind::UsageCounters) => counters_changed(app, mailer, event).await,
        None => Ok(()),
    }
}

/// A profile deleted: finishes removing what was under it, if the request that deleted it did
/// not (a failure half way). A failure here fails the record, so the stream tries again.
async fn purge_pending(app: &App, event: &StreamEvent) -> anyhow::Result<()> {
    let Some(PendingPurge { pid, .. }) = parse(&event.change.new)? else {
        return Ok(());
    };
    profiles::finish_purge(app, pid)
        .await
        .map_err(|refusal| anyhow::anyhow!("purging profile {pid}: {refusal:?}"))
}

fn parse<T: serde::de::DeserializeOwned>(image: &Option<Item>) -> anyhow::Result<Option<T>> {
    match image {
        Some(item) => {
            Ok(Some(keys::from_item(item.clone()).map_err(|_| {
                anyhow::anyhow!("an image that does not parse")
            })?))
        }
        None => Ok(None),
    }
}

fn marker(app: &App, event: &StreamEvent) -> anyhow::Result<Write> {
    let ttl = (app.now() + chrono::Duration::days(MARKER_DAYS)).timestamp();
    let item = keys::to_item(
        &keys::notification_marker(&event.id),
        &serde_json::json!({ "ttl": ttl }),
    )?;
    Ok(Write::put_new(item))
}

async fn invitation_changed(
    app: &App,
    mailer: &dyn Mailer,
    event: &StreamEvent,
) -> anyhow::Result<()> {
    let old: Option<InvitationRecord> = parse(&event.change.old)?;
    let Some(new) = parse::<InvitationRecord>(&event.change.new)? else {
        return Ok(());
    };
    let sent_new_version = old.as_ref().is_none_or(|old| old.version != new.version);
    if new.status == InvitationStatus::Pending && sent_new_version {
        let marker_write = marker(app, event)?;
        let Some(secret) = team::prepare_link(app, &new, marker_write).await? else {
            // Handled before, or the invitation moved on: nothing to send.
            return Ok(());
        };
        let email = invitation_email(app, &new, &secret);
        if let Err(error) = mailer.send(&email).await {
            team::unprepare_link(app, &new, &secret, keys::notification_marker(&event.id)).await?;
            return Err(error.into());
        }
        return Ok(());
    }
    let was_pending = old.is_some_and(|old| old.status == InvitationStatus::Pending);
    if was_pending && new.status == InvitationStatus::Accepted {
        let Some((owner, profile)) = owner_of(app, new.pid).await? else {
            return Ok(());
        };
        if !owner.email_verified {
            return Ok(());
        }
        let email = accepted_email(&new, &profile, &owner);
        send_once(app, mailer, event, &email).await?;
    }
    Ok(())
}

/// An account signed up, or asked for a new verification link: one verification e-mail per
/// `verify_version`, while the e-mail is unverified.
async fn account_changed(
    app: &App,
    mailer: &dyn Mailer,
    event: &StreamEvent,
) -> anyhow::Result<()> {
    let old: Option<AccountRecord> = parse(&event.change.old)?;
    let Some(new) = parse::<AccountRecord>(&event.change.new)? else {
        return Ok(());
    };
    let new_version = old
        .as_ref()
        .is_none_or(|old| old.verify_version != new.verify_version);
    if new.email_verified || new.deleting || !new_version {
        return Ok(());
    }
    let Some(secret) = verification::prepare_link(app, &new, marker(app, event)?).await? else {
        return Ok(());
    };
    let email = verification_email(app, &new, &secret);
    if let Err(error) = mailer.send(&email).await {
        verification::unprepare_link(app, &new, &secret, keys::notification_marker(&event.id))
            .await?;
        return Err(error.into());
    }
    Ok(())
}

/// A password-reset request was made: its e-mail, with a link prepared for it.
async fn reset_requested(
    app: &App,
    mailer: &dyn Mailer,
    event: &StreamEvent,
) -> anyhow::Result<()> {
    if event.change.old.is_some() {
        return Ok(());
    }
    let Some(request) = parse::<ResetRequestRecord>(&event.change.new)? else {
        return Ok(());
    };
    let Some(secret) = recovery::prepare_link(app, &request, marker(app, event)?).await? else {
        return Ok(());
    };
    let email = reset_email(app, &request, &secret);
    if let Err(error) = mailer.send(&email).await {
        recovery::unprepare_link(app, &request, &secret, keys::notification_marker(&event.id))
            .await?;
        return Err(error.into());
    }
    Ok(())
}

/// A run user asked for a password reset: its e-mail, with a link prepared for it.
async fn run_reset_requested(
    app: &App,
    mailer: &dyn Mailer,
    event: &StreamEvent,
) -> anyhow::Result<()> {
    if event.change.old.is_some() {
        return Ok(());
    }
    let Some(request) = parse::<RunResetRequestRecord>(&event.change.new)? else {
        return Ok(());
    };
    let Some(secret) = run_users::reset::prepare_link(app, &request, marker(app, event)?).await?
    else {
        return Ok(());
    };
    let email = run_reset_email(app, &request, &secret);
    if let Err(error) = mailer.send(&email).await {
        let marker = keys::notification_marker(&event.id);
        run_users::reset::unprepare_link(app, &request, &secret, marker).await?;
        return Err(error.into());
    }
    Ok(())
}

/// An API token removed by TTL after it expired: nothing of ours saw it go, so its profile's
/// `tokens` gauge falls here, once (the sent-marker guards a replay), in one transaction.
async fn token_expired(app: &App, event: &StreamEvent) -> anyhow::Result<()> {
    let Some(TokenRecord::Profile(token)) = parse::<TokenRecord>(&event.change.old)? else {
        return Ok(());
    };
    let Some(item) = app.table.get(&keys::profile(token.pid)).await? else {
        return Ok(());
    };
    let profile: ProfileRecord = keys::from_item(item)?;
    let mut tx = Tx::new();
    tx.add(marker(app, event)?).append(usage::gauge_writes(
        &profile,
        Service::Tokens,
        -1,
        app.now(),
    )?);
    match tx.commit(app.table.as_ref()).await {
        // Handled before, or the profile is gone (and its gauge with it).
        Ok(()) | Err(Refusal::Contended(_)) => Ok(()),
        Err(refusal) => Err(refusal.into()),
    }
}

/// The profile and its owner's account (`None` when the profile is gone).
async fn owner_of(app: &App, pid: Uuid) -> anyhow::Result<Option<(AccountRecord, ProfileRecord)>> {
    let Some(item) = app.table.get(&keys::profile(pid)).await? else {
        return Ok(None);
    };
    let profile: ProfileRecord = keys::from_item(item)?;
    let Some(item) = app.table.get(&keys::account(profile.owner)).await? else {
        return Ok(None);
    };
    Ok(Some((keys::from_item(item)?, profile)))
}

/// Sends `email` once for this record: the sent-marker first (refused: a replay, skip), and
/// taken back when the send fails, so the retry sends it.
async fn send_once(
    app: &App,
    mailer: &dyn Mailer,
    event: &StreamEvent,
    email: &Email,
) -> anyhow::Result<()> {
    let Write::Put { item, .. } = marker(app, event)? else {
        return Ok(());
    };
    match app.table.put(item, Some(Condition::NotExists)).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Ok(()),
        Err(error) => return Err(error.into()),
    }
    if let Err(error) = mailer.send(email).await {
        app.table
            .delete(&keys::notification_marker(&event.id), None)
            .await?;
        return Err(error.into());
    }
    Ok(())
}

/// The highest threshold `old → new` crosses upwards against `limit`, if any.
pub fn crossed(old: i64, new: i64, limit: i64) -> Option<i64> {
    if limit <= 0 || new <= old {
        return None;
    }
    THRESHOLDS
        .into_iter()
        .filter(|t| old * 100 < t * limit && new * 100 >= t * limit)
        .max()
}

async fn gauges_changed(app: &App, mailer: &dyn Mailer, event: &StreamEvent) -> anyhow::Result<()> {
    let (Some(old), Some(new)) = (
        parse::<ProfileRecord>(&event.change.old)?,
        parse::<ProfileRecord>(&event.change.new)?,
    ) else {
        return Ok(());
    };
    let crossings: Vec<(Service, i64, i64, i64)> = Service::ALL
        .into_iter()
        .filter(|s| s.metering() == Metering::Gauge)
        .filter_map(|s| {
            let limit = new.limit(s);
            crossed(old.gauge(s), new.gauge(s), limit).map(|t| (s, t, new.gauge(s), limit))
        })
        .collect();
    alert(app, mailer, event, &new, &crossings).await
}

async fn counters_changed(
    app: &App,
    mailer: &dyn Mailer,
    event: &StreamEvent,
) -> anyhow::Result<()> {
    let Some(new) = parse::<UsageRecord>(&event.change.new)? else {
        return Ok(());
    };
    let old = parse::<UsageRecord>(&event.change.old)?.unwrap_or_default();
    let monthly: Vec<Service> = Service::ALL
        .into_iter()
        .filter(|s| s.metering() == Metering::Monthly)
        .collect();
    let count =
        |record: &UsageRecord, s: Service| record.counts.get(&s.used_attr()).copied().unwrap_or(0);
    // Each count was checked against the limit it records beside it: no read to tell a crossing.
    let crossings: Vec<(Service, i64, i64, i64)> = monthly
        .into_iter()
        .filter_map(|s| {
            let limit = new.counts.get(&s.limit_attr()).copied()?;
            crossed(count(&old, s), count(&new, s), limit).map(|t| (s, t, count(&new, s), limit))
        })
        .collect();
    if crossings.is_empty() {
        return Ok(());
    }
    let pid = keys::profile_of(&event.change.key)
        .ok_or_else(|| anyhow::anyhow!("a usage item outside a profile"))?;
    let Some(item) = app.table.get(&keys::profile(pid)).await? else {
        return Ok(());
    };
    let profile: ProfileRecord = keys::from_item(item)?;
    alert(app, mailer, event, &profile, &crossings).await
}

async fn alert(
    app: &App,
    mailer: &dyn Mailer,
    event: &StreamEvent,
    profile: &ProfileRecord,
    crossings: &[(Service, i64, i64, i64)],
) -> anyhow::Result<()> {
    if crossings.is_empty() {
        return Ok(());
    }
    let Some(item) = app.table.get(&keys::account(profile.owner)).await? else {
        return Ok(());
    };
    let owner: AccountRecord = keys::from_item(item)?;
    if !owner.email_verified {
        return Ok(());
    }
    let email = usage_email(profile, &owner, crossings);
    send_once(app, mailer, event, &email).await
}

#[cfg(test)]
mod tests {
    use super::emails::{html_escape, one_line};
    use super::*;

    #[test]
    fn crossing_picks_the_highest_threshold_crossed_upwards() {
        assert_eq!(crossed(7, 8, 10), Some(80));
        assert_eq!(crossed(8, 9, 10), Some(90));
        assert_eq!(crossed(7, 10, 10), Some(100));
        assert_eq!(crossed(8, 8, 10), None);
        assert_eq!(crossed(9, 8, 10), None);
        assert_eq!(crossed(0, 5, 0), None);
        assert_eq!(crossed(10, 11, 10), None);
    }

    #[test]
    fn names_cannot_break_lines_or_markup() {
        assert_eq!(one_line("a\r\nBcc: x"), "a  Bcc: x");
        assert_eq!(html_escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }
}
