//! The scheduled maintenance job (DESIGN.md "Scheduled maintenance"): hourly in AWS (the
//! `maintenance` function, an EventBridge schedule), on a timer in the local server. It reads
//! the due markers (`domain::due`) of every hour from the one after its checkpoint up to now,
//! handles each, and moves the checkpoint past an hour only once every marker of it is done: a
//! run that stops half way (a crash, a timeout) leaves the rest to the next. Every step is
//! idempotent, and two runs at once do each thing once: a warning goes out only after its
//! sent-marker was written with a condition, which one run alone wins.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::domain::accounts::{self, Erasure};
use crate::domain::audit::Audit;
use crate::domain::due::DueRecord;
use crate::domain::records::{AccountRecord, ProfileRecord, TokenRecord};
use crate::domain::team::closing;
use crate::keys;
use crate::mail::Mailer;
use crate::notify::emails;
use crate::refusal::{Decided, Refusal};
use crate::store::{Condition, Item, Key, Query, StoreError, Update, query_all, query_first};

/// Without a checkpoint (the first run ever), the hours read start this far back: past the
/// longest a marker can wait for a missed run to come.
const FIRST_LOOKBACK_HOURS: i64 = 24 * 8;

/// How long a warning's sent-marker is kept (past the token's expiry, so a late retry finds it).
const SENT_MARKER_DAYS: i64 = 30;

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Hours whose markers were read.
    pub hours: usize,
    pub warnings_sent: usize,
    pub accounts_deleted: usize,
    pub invitations_expired: usize,
    /// Markers found moot (a revoked token, a verified account) or handled by another run.
    pub dropped: usize,
}

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    /// The last hour finished, `yyyy-mm-ddThh`, and its start in Unix seconds.
    hour: String,
    hour_epoch: i64,
}

/// One run: every marker due by now, hour by hour.
pub async fn run(app: &App, mailer: &dyn Mailer) -> Decided<Outcome> {
    let now = app.now();
    let current = now
        .duration_trunc(Duration::hours(1))
        .map_err(|_| Refusal::Internal)?;
    let mut hour = match app.table.get(&keys::maintenance_checkpoint()).await? {
        Some(item) => {
            let done: Checkpoint = keys::from_item(item)?;
            DateTime::from_timestamp(done.hour_epoch, 0).ok_or(Refusal::Internal)?
                + Duration::hours(1)
        }
        None => current - Duration::hours(FIRST_LOOKBACK_HOURS),
    };
    let mut outcome = Outcome::default();
    while hour <= current {
        let name = keys::hour_of(hour);
        let markers = query_all(
            app.table.as_ref(),
            Query::partition(keys::due_partition(&name)),
        )
        .await?;
        for item in markers {
            handle(app, mailer, item, now, &mut outcome).await?;
        }
        outcome.hours += 1;
        // The current hour may still get markers due later in it: it is finished next run.
        if hour < current {
            advance(app, &name, hour.timestamp()).await?;
        }
        hour += Duration::hours(1);
    }
    tracing::info!(?outcome, "maintenance run");
    Ok(outcome)
}

/// Moves the checkpoint to `hour`, never back (an overlapping run may be ahead).
async fn advance(app: &App, hour: &str, hour_epoch: i64) -> Decided<()> {
    let moved = app
        .table
        .update(
            &keys::maintenance_checkpoint(),
            Update::new()
                .set("hour", hour)
                .set("hour_epoch", hour_epoch),
            Some(Condition::Below("hour_epoch".into(), hour_epoch)),
        )
        .await;
    match moved {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

async fn handle(
    app: &App,
    mailer: &dyn Mailer,
    item: Item,
    now: DateTime<Utc>,
    outcome: &mut Outcome,
) -> Decided<()> {
    let key = Key::of(&item).ok_or(Refusal::Internal)?;
    let record: DueRecord = keys::from_item(item)?;
    if record.due_at() > now {
        return Ok(());
    }
    let done = match record {
        DueRecord::TokenWarning {
            pid,
            tid,
            days,
            expires_at,
            ..
        } => {
            let warning = Warning {
                pid,
                tid,
                days,
                expires_at,
            };
            warn(app, mailer, &warning, now).await?
        }
        DueRecord::UnverifiedAccount { aid, .. } => delete_unverified(app, aid, now).await?,
        DueRecord::InvitationExpiry { pid, iid, .. } => {
            if closing::expire(app, pid, iid, &Audit::system()).await? {
                Done::Expired
            } else {
                Done::Dropped
            }
        }
    };
    match done {
        Done::Sent => outcome.warnings_sent += 1,
        Done::Deleted => outcome.accounts_deleted += 1,
        Done::Expired => outcome.invitations_expired += 1,
        Done::Dropped => outcome.dropped += 1,
    }
    // Handled (or moot): the marker goes, so the next read of this hour skips it.
    app.table.delete(&key, None).await?;
    Ok(())
}

enum Done {
    Sent,
    Deleted,
    Expired,
    Dropped,
}

struct Warning {
    pid: uuid::Uuid,
    tid: uuid::Uuid,
    days: i64,
    expires_at: DateTime<Utc>,
}

/// E-mails a token's creator once: the sent-marker is written (with a condition) before the
/// e-mail leaves, and removed again if it could not leave, so the next run tries again.
async fn warn(
    app: &App,
    mailer: &dyn Mailer,
    warning: &Warning,
    now: DateTime<Utc>,
) -> Decided<Done> {
    let token = query_first(
        app.table.as_ref(),
        Query::gsi1(keys::profile_tokens(warning.pid)).prefix(keys::token_index_sk(warning.tid)),
    )
    .await?;
    // Gone (revoked, its profile deleted) or given another expiry: moot.
    let token = match token.map(keys::from_item::<TokenRecord>).transpose()? {
        Some(TokenRecord::Profile(token)) if token.expires_at == Some(warning.expires_at) => token,
        _ => return Ok(Done::Dropped),
    };
    if warning.expires_at <= now {
        return Ok(Done::Dropped);
    }
    let (owner_key, profile_key) = (keys::account(token.aid), keys::profile(warning.pid));
    let (owner, profile) = tokio::join!(app.table.get(&owner_key), app.table.get(&profile_key));
    let (Some(owner), Some(profile)) = (owner?, profile?) else {
        return Ok(Done::Dropped);
    };
    let owner: AccountRecord = keys::from_item(owner)?;
    let profile: ProfileRecord = keys::from_item(profile)?;
    let sent =
        keys::notification_marker(&format!("token-warning-{}-{}", warning.days, warning.tid));
    let ttl = (warning.expires_at + Duration::days(SENT_MARKER_DAYS)).timestamp();
    let marker = keys::to_item(&sent, &serde_json::json!({ "ttl": ttl }))?;
    match app.table.put(marker, Some(Condition::NotExists)).await {
        Ok(()) => {}
        // Another run (or this one, before a crash) sent it.
        Err(StoreError::ConditionFailed) => return Ok(Done::Dropped),
        Err(error) => return Err(error.into()),
    }
    let email = emails::token_warning_email(
        &owner,
        &profile,
        &token.name,
        warning.days,
        warning.expires_at,
    );
    if let Err(error) = mailer.send(&email).await {
        tracing::warn!(%error, tid = %warning.tid, "a token expiry warning could not be sent");
        app.table.delete(&sent, None).await?;
        return Err(Refusal::Internal);
    }
    Ok(Done::Sent)
}

/// Deletes account `aid` with all it owns if it is still unverified `UNVERIFIED_DAYS` after
/// sign-up (guarded: a verification meanwhile keeps it).
async fn delete_unverified(app: &App, aid: uuid::Uuid, now: DateTime<Utc>) -> Decided<Done> {
    let Some(item) = app.table.get(&keys::account(aid)).await? else {
        return Ok(Done::Dropped);
    };
    let account: AccountRecord = keys::from_item(item)?;
    let due = account.created_at + Duration::days(crate::domain::due::UNVERIFIED_DAYS);
    if account.email_verified || due > now {
        return Ok(Done::Dropped);
    }
    match accounts::erase(app, &account, Erasure::Stale, &Audit::system()).await {
        Ok(()) => Ok(Done::Deleted),
        // Verified meanwhile.
        Err(Refusal::Contended(_)) => Ok(Done::Dropped),
        Err(refusal) => Err(refusal),
    }
}
