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

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use super::{limit_reached, month_of};
use crate::app::App;
use crate::catalogue::Service;
use crate::domain::records::ProfileRecord;
use crate::keys;
use crate::refusal::Decided;
use crate::store::{Condition, StoreError, Update};

const SERVICE: Service = Service::ApiRequests;
/// Entries idle (nothing pending, nothing in flight) for this long are forgotten.
const IDLE_SECONDS: i64 = 15 * 60;

/// What one process has counted and not yet written, per profile and month.
pub struct Meter {
    batch: i64,
    flush_after: chrono::Duration,
    state: Mutex<HashMap<(Uuid, String), Entry>>,
    /// When (ms since the epoch, the app's clock) due batches were last looked for.
    last_sweep: AtomicI64,
}

#[derive(Debug)]
struct Entry {
    /// The month's counter as this process last saw it (`None`: not yet known).
    stored: Option<i64>,
    /// Taken from `pending` by a write that has not answered yet.
    in_flight: i64,
    /// Counted here, not yet written.
    pending: i64,
    /// The day the pending requests are counted on, and the limit they were checked against.
    day: u32,
    limit: i64,
    /// When the oldest pending request was counted.
    since: Option<DateTime<Utc>>,
    last_used: DateTime<Utc>,
}

impl Entry {
    fn known(&self) -> Option<i64> {
        self.stored
            .map(|stored| stored + self.in_flight + self.pending)
    }
}

/// One write of counted requests.
#[derive(Debug)]
struct Batch {
    pid: Uuid,
    month: String,
    day: u32,
    limit: i64,
    count: i64,
}

/// Which pending batches to write.
#[derive(Clone, Copy)]
enum Which {
    /// Those older than the flush period.
    Due,
    Profile(Uuid),
    All,
}

/// What to do with one request.
enum Step {
    /// Counted in memory; nothing to write.
    Counted,
    /// The first of this process for the profile and month: write it now (refused if no room).
    WriteFirst(Batch),
    /// Counted; this batch is due.
    Flush(Batch),
    Refuse,
}

impl Meter {
    /// `batch` and `flush_after` as configured (`METER_BATCH`, `METER_FLUSH_MS`); a batch of 1
    /// writes every request.
    pub fn new(batch: i64, flush_after: std::time::Duration) -> Self {
        Meter {
            batch: batch.max(1),
            flush_after: chrono::Duration::from_std(flush_after)
                .unwrap_or_else(|_| chrono::Duration::seconds(1)),
            state: Mutex::new(HashMap::new()),
            last_sweep: AtomicI64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, String), Entry>> {
        // A panic while holding the lock leaves counts that are still counts.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn step(&self, pid: Uuid, limit: i64, now: DateTime<Utc>) -> (Step, Option<Batch>) {
        let month = month_of(now);
        let day = now.day();
        let mut state = self.lock();
        let entry = state.entry((pid, month.clone())).or_insert(Entry {
            stored: None,
            in_flight: 0,
            pending: 0,
            day,
            limit,
            since: None,
            last_used: now,
        });
        entry.last_used = now;
        let Some(known) = entry.known() else {
            entry.in_flight += 1;
            return (
                Step::WriteFirst(Batch {
                    pid,
                    month,
                    day,
                    limit,
                    count: 1,
                }),
                None,
            );
        };
        if known >= limit {
            return (Step::Refuse, None);
        }
        // Pending requests of an earlier day are written on that day's counter first.
        let earlier = (entry.pending > 0 && entry.day != day).then(|| take(entry, pid, &month));
        entry.pending += 1;
        entry.day = day;
        entry.limit = limit;
        let since = *entry.since.get_or_insert(now);
        if entry.pending >= self.batch || now - since >= self.flush_after {
            (Step::Flush(take(entry, pid, &month)), earlier)
        } else {
            (Step::Counted, earlier)
        }
    }

    /// Takes the pending batches `which` names, and forgets idle entries.
    fn take(&self, now: DateTime<Utc>, which: Which) -> Vec<Batch> {
        let mut state = self.lock();
        let mut due = Vec::new();
        for ((entry_pid, month), entry) in state.iter_mut() {
            let wanted = match which {
                Which::Due => entry
                    .since
                    .is_some_and(|since| now - since >= self.flush_after),
                Which::Profile(pid) => *entry_pid == pid,
                Which::All => true,
            };
            if wanted && entry.pending > 0 {
                due.push(take(entry, *entry_pid, month));
            }
        }
        state.retain(|_, entry| {
            entry.pending > 0
                || entry.in_flight > 0
                || (now - entry.last_used).num_seconds() < IDLE_SECONDS
        });
        due
    }

    /// A write of `batch` answered: the counter now stands at `stored`. `None`: the write
    /// failed; with `requeue` its requests (served already) are pending again, to be written
    /// with the next batch.
    fn settle(&self, batch: &Batch, stored: Option<i64>, requeue: bool, now: DateTime<Utc>) {
        let mut state = self.lock();
        let Some(entry) = state.get_mut(&(batch.pid, batch.month.clone())) else {
            return;
        };
        entry.in_flight = (entry.in_flight - batch.count).max(0);
        match stored {
            Some(stored) => entry.stored = Some(entry.stored.map_or(stored, |s| s.max(stored))),
            None if requeue => {
                entry.pending += batch.count;
                entry.since.get_or_insert(now);
            }
            None => {}
        }
    }

    /// Whether it is time to look for due batches again (at most twice per flush period).
    fn sweep_due(&self, now: DateTime<Utc>) -> bool {
        let now = now.timestamp_millis();
        let last = self.last_sweep.load(Ordering::Relaxed);
        now - last >= self.flush_after.num_milliseconds() / 2
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// What this process knows of the counter, after a write made elsewhere in it (an
    /// allowance used up directly, for example).
    pub fn learn(&self, pid: Uuid, month: &str, stored: i64) {
        if let Some(entry) = self.lock().get_mut(&(pid, month.to_owned())) {
            entry.stored = Some(entry.stored.map_or(stored, |s| s.max(stored)));
        }
    }

    /// Forgets a profile (deleted: nothing of it may be written again by this process).
    pub fn forget(&self, pid: Uuid) {
        self.lock().retain(|(entry_pid, _), _| *entry_pid != pid);
    }

    /// Requests counted by this process and not yet written (for tests and the bench).
    pub fn pending(&self) -> i64 {
        self.lock()
            .values()
            .map(|entry| entry.pending + entry.in_flight)
            .sum()
    }
}

fn take(entry: &mut Entry, pid: Uuid, month: &str) -> Batch {
    let count = std::mem::take(&mut entry.pending);
    entry.in_flight += count;
    entry.since = None;
    Batch {
        pid,
        month: month.to_owned(),
        day: entry.day,
        limit: entry.limit,
        count,
    }
}

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
            let update = Update::new()
                .set("month", batch.month.clone())
                .set(SERVICE.limit_attr(), batch.limit)
                .add(used.clone(), count)
                .add(SERVICE.day_attr(batch.day), count);
            let condition = Condition::Below(used.clone(), batch.limit - count + 1);
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
