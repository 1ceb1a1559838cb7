//! The embedded store's change feed drives the notification handler, as DynamoDB Streams drive
//! the `notifications` function in AWS, with the same semantics:
//!
//! - changes are read in order, in batches of up to [`BATCH`], each wrapped as a
//!   [`StreamEvent`] whose id is its sequence number, and handed to `notify::handle_batch`;
//! - everything before the first failed record is acknowledged (forgotten by the store; its
//!   sequence numbers are never given out again); the failed record and what follows it are
//!   read again after a
//!   backoff ([`FIRST_RETRY`], doubling up to [`MAX_RETRY`]), so handlers see a replay as
//!   Lambda's checkpointing would give them;
//! - a record that still fails after [`MAX_ATTEMPTS`] is given up (logged, then acknowledged),
//!   as the event source mapping gives up after its retries: one poisoned record never blocks
//!   the feed for good;
//! - the task wakes on every committed write, and on a periodic tick as a safety net;
//! - unacknowledged changes survive a restart and are handled then (a record handled but not yet
//!   acknowledged when the process died comes again: a replay, which the handlers recognise by
//!   its id).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use shared::app::App;
use shared::mail::Mailer;
use shared::notify::{self, StreamEvent};
use shared::store::embedded::EmbeddedTable;
use tokio::sync::watch;

/// Records per batch (the Lambda mapping's batch size).
pub const BATCH: usize = 25;
/// Reads the feed at least this often, even without a wake-up.
pub const TICK: Duration = Duration::from_secs(10);
/// The first wait before reading a failed record again; doubled on each failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(60);
/// Attempts at one record before giving it up (the first one and its retries).
pub const MAX_ATTEMPTS: u32 = 8;

/// Runs the feed until `stop` turns true (or its sender is dropped). A batch being handled is
/// finished first; what is not acknowledged yet is handled at the next start.
pub async fn run(
    table: EmbeddedTable,
    app: App,
    mailer: Arc<dyn Mailer>,
    stop: watch::Receiver<bool>,
) {
    let handler = move |events: Vec<StreamEvent>| {
        let app = app.clone();
        let mailer = mailer.clone();
        async move { notify::handle_batch(&app, mailer.as_ref(), events).await }
    };
    Feed::new(table, handler).run(stop).await;
    tracing::info!("change feed stopped");
}

/// What one pass over the feed ended with.
#[derive(Debug, PartialEq, Eq)]
enum Pass {
    /// Everything was handled.
    Drained,
    /// A record failed (or the store did): read again after a backoff.
    Retry,
}

struct Feed<H> {
    table: EmbeddedTable,
    handler: H,
    /// The last sequence number handled (or given up).
    handled: u64,
    /// The first failed record of the last pass and how many attempts it has had.
    failing: Option<(u64, u32)>,
    /// The wait before the next retry.
    delay: Duration,
}

impl<H, F> Feed<H>
where
    H: Fn(Vec<StreamEvent>) -> F,
    F: Future<Output = Vec<String>>,
{
    fn new(table: EmbeddedTable, handler: H) -> Self {
        Feed {
            table,
            handler,
            handled: 0,
            failing: None,
            delay: FIRST_RETRY,
        }
    }

    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let changed = self.table.changed();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Registered before reading, so a write committed during the pass still wakes us.
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if *stop.borrow() {
                return;
            }
            match self.pass().await {
                Pass::Drained => {
                    self.delay = FIRST_RETRY;
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tick.tick() => {}
                        changed = stop.changed() => if changed.is_err() { return },
                    }
                }
                Pass::Retry => {
                    // New writes do not cut the backoff short: they queue behind the failure.
                    let wait = self.delay;
                    self.delay = (self.delay * 2).min(MAX_RETRY);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        changed = stop.changed() => if changed.is_err() { return },
                    }
                }
            }
        }
    }

    /// Reads and handles batches until the feed is empty or a record fails.
    async fn pass(&mut self) -> Pass {
        loop {
            let batch = match self.table.changes_after(self.handled, BATCH).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, "reading the change feed failed");
                    return Pass::Retry;
                }
            };
            let Some(&(last, _)) = batch.last() else {
                return Pass::Drained;
            };
            let sequences: Vec<u64> = batch.iter().map(|(seq, _)| *seq).collect();
            let events = batch
                .into_iter()
                .map(|(seq, change)| StreamEvent {
                    id: seq.to_string(),
                    change,
                })
                .collect();
            let failed = (self.handler)(events).await;
            let first_failed = sequences
                .iter()
                .copied()
                .find(|seq| failed.iter().any(|id| *id == seq.to_string()));
            let Some(seq) = first_failed else {
                self.failing = None;
                self.handled_up_to(last).await;
                continue;
            };
            let attempts = match self.failing {
                Some((failing, attempts)) if failing == seq => attempts + 1,
                _ => 1,
            };
            if attempts >= MAX_ATTEMPTS {
                tracing::error!(
                    sequence = seq,
                    attempts,
                    "a change record kept failing: given up, its notifications are not sent"
                );
                self.failing = None;
                self.handled_up_to(seq).await;
                // What followed it is handled again now (a replay for the handlers).
                continue;
            }
            tracing::warn!(
                sequence = seq,
                attempts,
                "a change record failed: retried later"
            );
            self.failing = Some((seq, attempts));
            self.handled_up_to(seq - 1).await;
            return Pass::Retry;
        }
    }

    /// Moves the cursor to `upto` and lets the store forget what came before it. The record at
    /// the cursor itself is kept: the store numbers new changes after the last one it holds, so
    /// keeping one keeps sequence numbers (the events' ids, which handlers use to recognise a
    /// replay) from starting again at 1. After a restart that record is handled again, a
    /// replay. A failed acknowledgement is only logged: the next one covers it.
    async fn handled_up_to(&mut self, upto: u64) {
        if upto <= self.handled {
            return;
        }
        self.handled = upto;
        if let Err(error) = self.table.ack_changes(upto).await {
            tracing::warn!(%error, "acknowledging handled changes failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use shared::store::{Item, Key, Table};

    use super::*;

    /// A fresh embedded table in a directory of its own under the system's temporary directory.
    fn table(name: &str) -> (EmbeddedTable, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "tenantry-feed-{name}-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let table = EmbeddedTable::open(dir.join("tenantry.redb")).expect("open the table");
        (table, dir)
    }

    fn item(sk: &str) -> Item {
        let mut item = Item::new();
        item.insert("PK".into(), "P#1".into());
        item.insert("SK".into(), sk.into());
        item
    }

    /// Records the ids it is handed; fails each id listed in `failures` as many times as given.
    #[derive(Clone, Default)]
    struct Recorder {
        seen: Arc<Mutex<Vec<String>>>,
        failures: Arc<Mutex<HashMap<String, u32>>>,
    }

    impl Recorder {
        fn handler(&self) -> impl Fn(Vec<StreamEvent>) -> std::future::Ready<Vec<String>> + use<> {
            let recorder = self.clone();
            move |events| {
                let mut seen = recorder.seen.lock().expect("lock");
                let mut failures = recorder.failures.lock().expect("lock");
                let mut failed = Vec::new();
                for event in events {
                    seen.push(event.id.clone());
                    if let Some(left) = failures.get_mut(&event.id)
                        && *left > 0
                    {
                        *left -= 1;
                        failed.push(event.id);
                    }
                }
                std::future::ready(failed)
            }
        }
        fn seen(&self) -> Vec<String> {
            self.seen.lock().expect("lock").clone()
        }
    }

    /// The sequence numbers the store still holds.
    async fn left(table: &EmbeddedTable) -> Vec<u64> {
        let changes = table.changes_after(0, 100).await.expect("read the feed");
        changes.into_iter().map(|(seq, _)| seq).collect()
    }

    async fn seen_within(recorder: &Recorder, count: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while recorder.seen().len() < count && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_restart_goes_on_after_what_was_handled_and_ids_go_on() {
        let (table, dir) = table("restart");
        table.put(item("A"), None).await.expect("put");
        table.put(item("B"), None).await.expect("put");
        let first = Recorder::default();
        assert_eq!(
            Feed::new(table.clone(), first.handler()).pass().await,
            Pass::Drained
        );
        assert_eq!(first.seen(), ["1", "2"]);

        assert_eq!(left(&table).await, Vec::<u64>::new());

        // Another process on the same store: only what is new, with ids that go on.
        table.put(item("C"), None).await.expect("put");
        let second = Recorder::default();
        assert_eq!(
            Feed::new(table.clone(), second.handler()).pass().await,
            Pass::Drained
        );
        assert_eq!(second.seen(), ["3"]);
        assert_eq!(left(&table).await, Vec::<u64>::new());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn acknowledges_up_to_the_first_failure_and_retries_from_it() {
        let (table, dir) = table("retry");
        for sk in ["A", "B", "C"] {
            table.put(item(sk), None).await.expect("put");
        }
        let recorder = Recorder::default();
        recorder
            .failures
            .lock()
            .expect("lock")
            .insert("2".into(), 1);
        let mut feed = Feed::new(table.clone(), recorder.handler());

        assert_eq!(feed.pass().await, Pass::Retry);
        assert_eq!(recorder.seen(), ["1", "2", "3"]);
        // Record 1 is handled and acknowledged; the failed one and what follows stay.
        assert_eq!(left(&table).await, [2, 3]);

        assert_eq!(feed.pass().await, Pass::Drained);
        assert_eq!(recorder.seen(), ["1", "2", "3", "2", "3"]);
        assert_eq!(left(&table).await, Vec::<u64>::new());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn gives_up_a_record_that_keeps_failing() {
        let (table, dir) = table("poison");
        table.put(item("A"), None).await.expect("put");
        table.put(item("B"), None).await.expect("put");
        let recorder = Recorder::default();
        recorder
            .failures
            .lock()
            .expect("lock")
            .insert("1".into(), u32::MAX);
        let mut feed = Feed::new(table.clone(), recorder.handler());
        for _ in 1..MAX_ATTEMPTS {
            assert_eq!(feed.pass().await, Pass::Retry);
        }
        assert_eq!(feed.pass().await, Pass::Drained);
        let seen = recorder.seen();
        assert_eq!(
            seen.iter().filter(|id| *id == "1").count(),
            MAX_ATTEMPTS as usize
        );
        assert_eq!(seen.last().map(String::as_str), Some("2"));
        assert_eq!(left(&table).await, Vec::<u64>::new());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn wakes_on_writes_and_stops_on_request() {
        let (table, dir) = table("wake");
        let recorder = Recorder::default();
        let (stop, stopped) = watch::channel(false);
        let feed = tokio::spawn(Feed::new(table.clone(), recorder.handler()).run(stopped));
        table.put(item("A"), None).await.expect("put");
        let key = Key::new("P#1", "A");
        table.delete(&key, None).await.expect("delete");
        seen_within(&recorder, 2).await;
        assert_eq!(recorder.seen(), ["1", "2"]);
        // Once the feed has caught up, new changes still get new ids.
        table.put(item("B"), None).await.expect("put");
        seen_within(&recorder, 3).await;
        assert_eq!(recorder.seen(), ["1", "2", "3"]);
        stop.send(true).expect("the feed listens");
        tokio::time::timeout(Duration::from_secs(5), feed)
            .await
            .expect("the feed stops")
            .expect("the feed task ends cleanly");
        let _ = std::fs::remove_dir_all(dir);
    }
}
