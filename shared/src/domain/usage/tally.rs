//! What one process has counted of `api_requests` and not yet written, per profile and month:
//! the state of [`super::meter`], kept apart from the application context that holds it (no
//! store, no clock of its own: the caller passes the time).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

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
pub(super) struct Batch {
    pub(super) pid: Uuid,
    pub(super) month: String,
    pub(super) day: u32,
    pub(super) limit: i64,
    pub(super) count: i64,
}

/// Which pending batches to write.
#[derive(Clone, Copy)]
pub(super) enum Which {
    /// Those older than the flush period.
    Due,
    Profile(Uuid),
    All,
}

/// What to do with one request.
pub(super) enum Step {
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

    pub(super) fn step(&self, pid: Uuid, limit: i64, now: DateTime<Utc>) -> (Step, Option<Batch>) {
        let month = format!("{:04}-{:02}", now.year(), now.month());
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
    pub(super) fn take(&self, now: DateTime<Utc>, which: Which) -> Vec<Batch> {
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
    pub(super) fn settle(
        &self,
        batch: &Batch,
        stored: Option<i64>,
        requeue: bool,
        now: DateTime<Utc>,
    ) {
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
    pub(super) fn sweep_due(&self, now: DateTime<Utc>) -> bool {
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

    /// Requests of profile `pid` counted by this process and not yet written, in flight
    /// included.
    pub fn held(&self, pid: Uuid) -> i64 {
        self.lock()
            .iter()
            .filter(|((entry_pid, _), _)| *entry_pid == pid)
            .map(|(_, entry)| entry.pending + entry.in_flight)
            .sum()
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
