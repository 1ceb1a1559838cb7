//! Counting `api_requests` without a durable write per request.
//!
//! Each process (a Lambda environment, the local server) keeps, per profile and month, the
//! requests it has counted but not yet written (`pending`) and the month's counter as it last
//! saw it in the table (`stored`). A request:
//! 1. the first of this process for that profile and month is written at once (one guarded
//!    add of 1), which tells the process the stored counter;
//! 2. later ones are refused locally when `stored + in flight + pending` has reached the
//!    profile's limit, and otherwise only counted in memory;
//! 3. the pending count is written as one guarded atomic add (the counter and the day's
//!    counter together, never past the limit) once it reaches `METER_BATCH`, or when the
//!    oldest pending request is older than `METER_FLUSH_MS` (checked on every counted request
//!    and, in the local server, by a timer), or before this process reads the profile's usage.
//!
//! What that costs and what it risks (DECISIONS "Metering"):
//! - writes: one per `METER_BATCH` requests of a busy profile, plus one per process, profile
//!   and month;
//! - slack: a process refuses exactly at the limit as far as it knows; what other processes
//!   counted meanwhile it learns at its next write, so a profile can be served at most
//!   `METER_BATCH - 1` requests per process beyond its limit. The stored counter never
//!   passes the limit (a write that would is cut to the room left);
//! - loss: a process that ends (a Lambda environment recycled, a crash) loses what it had
//!   pending: fewer than `METER_BATCH` requests, never more than `METER_FLUSH_MS` worth;
//! - lag: a usage report made by another process trails by at most the same.

use uuid::Uuid;

use super::limit_reached;
use super::tally::{Batch, Step, Which};
use crate::app::App;
use crate::catalogue::Service;
use crate::domain::records::ProfileRecord;
use crate::keys;
use crate::refusal::Decided;
use crate::store::StoreError;

pub use super::tally::Meter;

const SERVICE: Service = Service::ApiRequests;

/// Counts one API request of `profile` (refused with `limit-reached` once this process knows
/// the month's limit is reached); see the module's description for when it writes.
pub async fn count_request(app: &App, profile: &ProfileRecord) -> Decided<()> {
    let now = app.now();
    let limit = profile.limit(SERVICE);
    let (step, earlier) = app.meter.step(profile.pid, limit, now);
    if let Some(earlier) = earlier {
        flush(app, earlier).await;
    }
    match step {
        Step::Counted => {}
        Step::Refuse => return Err(limit_reached(SERVICE, now)),
        Step::Flush(batch) => flush(app, batch).await,
        Step::WriteFirst(batch) => {
            let written = write(app, &batch).await;
            let stored = written.as_ref().ok().map(|w| w.stored);
            app.meter.settle(&batch, stored, false, now);
            match written {
                Ok(Written { added: 0, .. }) => return Err(limit_reached(SERVICE, now)),
                Ok(_) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    if app.meter.sweep_due(now) {
        flush_due(app).await;
    }
    Ok(())
}

/// Writes every batch that is due (the local server's timer calls it; so does a counted
/// request now and then, for the profiles it does not touch).
pub async fn flush_due(app: &App) {
    flush_which(app, Which::Due).await;
}

/// Writes what this process has pending for `pid` (before its usage is read).
pub async fn flush_profile(app: &App, pid: Uuid) {
    flush_which(app, Which::Profile(pid)).await;
}

/// Writes everything this process has pending (the local server, when it stops).
pub async fn flush_all(app: &App) {
    flush_which(app, Which::All).await;
}

async fn flush_which(app: &App, which: Which) {
    for batch in app.meter.take(app.now(), which) {
        flush(app, batch).await;
    }
}

async fn flush(app: &App, batch: Batch) {
    let written = write(app, &batch).await;
    if let Err(error) = &written {
        tracing::warn!(pid = %batch.pid, count = batch.count, %error, "counted requests not written yet");
    }
    app.meter
        .settle(&batch, written.ok().map(|w| w.stored), true, app.now());
}

struct Written {
    /// How many of the batch's requests the counter took (fewer when it reached the limit).
    added: i64,
    /// The counter after the write.
    stored: i64,
}

/// Adds `batch.count` to the month's counter and the day's, never past the limit: when the
/// whole batch does not fit, reads the counter and adds what room is left.
async fn write(app: &App, batch: &Batch) -> Result<Written, StoreError> {
    let key = keys::usage(batch.pid, &batch.month);
    let used = SERVICE.used_attr();
    let mut count = batch.count;
    for _ in 0..2 {
        if count > 0 && count <= batch.limit {
            let (key, update, condition) = super::counter_add(
                batch.pid,
                SERVICE,
                batch.limit,
                count,
                &batch.month,
                batch.day,
            );
            match app.table.update(&key, update, Some(condition)).await {
                Ok(item) => {
                    let stored = item.get(&used).and_then(|v| v.as_i64()).unwrap_or(count);
                    return Ok(Written {
                        added: count,
                        stored,
                    });
                }
                Err(StoreError::ConditionFailed) => {}
                Err(error) => return Err(error),
            }
        }
        let current = app
            .table
            .get(&key)
            .await?
            .and_then(|item| item.get(&used).and_then(|v| v.as_i64()))
            .unwrap_or(0);
        count = count.min(batch.limit - current);
        if count <= 0 {
            return Ok(Written {
                added: 0,
                stored: current.max(batch.limit),
            });
        }
    }
    // Raced twice by other writers: what is left is counted as served beyond the limit.
    Ok(Written {
        added: 0,
        stored: batch.limit,
    })
}
