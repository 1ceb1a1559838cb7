//! Time the notifications handler spends per change record, on the embedded store with the
//! outbox mailer, for three kinds of record (batches of 200, as the change feed delivers them):
//!
//! - `ignored`: a record the handler does not look into (a `TOKEN` item put: a new session);
//! - `usage_no_alert`: a profile's `USAGE#yyyy-mm` item whose `api_requests` counter rose
//!   without crossing a threshold (limit 100,000, 200 requests): the handler reads the profile
//!   (one GetItem) to compare against its limits, and sends nothing;
//! - `invitation_email`: a new invitation: one transaction (sent-marker, hashed link secret,
//!   the invitation's `token_hash`), the e-mail built and written as an `.eml` file.
//!
//! Each invitation record sends once (its sent-marker), so every iteration of that bench times
//! the first pass over a fresh batch: 200 new invitations made through the domain before the
//! clock starts (`iter_custom`). The other two kinds send nothing and are replayed as they are.
//!
//! `cargo bench -p tenantry-tests --bench notify`; the figures are in BENCHMARKS.md. Per record
//! = the reported time / 200.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use shared::app::App;
use shared::config::Config;
use shared::domain::Role;
use shared::domain::access::{Principal, ProfileCaller};
use shared::domain::accounts;
use shared::domain::records::AccountRecord;
use shared::domain::{profiles, team, usage};
use shared::keys;
use shared::mail::{DEFAULT_FROM, OutboxMailer};
use shared::notify::{self, StreamEvent};
use shared::store::embedded::EmbeddedTable;
use tokio::runtime::Runtime;

/// Records per batch.
const N: usize = 200;
/// Invitations per profile: the hourly invitation rate of a profile
/// (`team::INVITATIONS_PER_HOUR`), so each batch spreads over N / 20 fresh profiles.
const PER_PROFILE: usize = team::INVITATIONS_PER_HOUR as usize;

struct Bench {
    rt: Runtime,
    table: EmbeddedTable,
    app: App,
    mailer: OutboxMailer,
    outbox: tempfile::TempDir,
    /// The change feed's last sequence number read.
    seen: u64,
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// An account (its password hash is never checked here, so none is computed).
async fn account(app: &App, label: &str) -> (AccountRecord, uuid::Uuid) {
    let (account, first) = accounts::create_account(
        app,
        shared::email::Email::parse(&format!(
            "{label}-{}@example.com",
            uuid::Uuid::now_v7().simple()
        ))
        .expect("an address"),
        label.to_owned(),
        "not-a-hash: never verified in this bench".to_owned(),
    )
    .await
    .expect("create account");
    (account, first.profile.pid)
}

fn eml_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .count()
    })
}

impl Bench {
    fn new() -> Bench {
        let table = tenantry_tests::fixtures::embedded();
        let app = App::new(Arc::new(table.clone()), Config::default());
        let outbox = tempfile::tempdir().expect("a temporary directory");
        let mailer = OutboxMailer::new(outbox.path().join("outbox"), DEFAULT_FROM.to_owned());
        Bench {
            rt: runtime(),
            table,
            app,
            mailer,
            outbox,
            seen: 0,
        }
    }

    /// The change records written since the last call whose sort key satisfies `keep`, as the
    /// feed hands them to the handler; the feed is acknowledged up to there.
    fn events(&mut self, keep: impl Fn(&str) -> bool) -> Vec<StreamEvent> {
        let table = self.table.clone();
        let after = self.seen;
        let changes = self
            .rt
            .block_on(async move { table.changes_after(after, 1_000_000).await })
            .expect("the feed");
        if let Some((last, _)) = changes.last() {
            self.seen = *last;
            let table = self.table.clone();
            let upto = *last;
            self.rt
                .block_on(async move { table.ack_changes(upto).await })
                .expect("ack");
        }
        changes
            .into_iter()
            .filter(|(_, change)| keep(&change.key.sk))
            .map(|(seq, change)| StreamEvent {
                id: seq.to_string(),
                change,
            })
            .collect()
    }

    /// N new sessions: N `TOKEN` puts, which the handler ignores.
    fn ignored(&mut self) -> Vec<StreamEvent> {
        let app = self.app.clone();
        self.rt.block_on(async move {
            let (holder, _) = account(&app, "sessions").await;
            for _ in 0..N {
                shared::domain::credentials::open_session(&app, holder.aid)
                    .await
                    .expect("session");
            }
        });
        let events = self.events(|sk| sk == "TOKEN");
        assert_eq!(events.len(), N);
        events
    }

    /// N counted API requests on one profile (limit 100,000): N changes of its usage item.
    fn usage(&mut self) -> Vec<StreamEvent> {
        let app = self.app.clone();
        self.rt.block_on(async move {
            let (_, pid) = account(&app, "usage").await;
            let profile = profiles::get(&app, pid).await.expect("profile");
            assert!(profile.limit(usage::Service::ApiRequests) >= 100_000);
            for _ in 0..N {
                usage::count_request(&app, &profile).await.expect("counted");
            }
        });
        let events = self.events(|sk| sk.starts_with("USAGE#"));
        assert_eq!(events.len(), N);
        events
    }

    /// N new invitations, through the domain: N / 20 fresh owners (each invites from its first
    /// profile, within the hourly rate) invite the same N invitees.
    fn invitations(&mut self, invitees: &[String]) -> Vec<StreamEvent> {
        let app = self.app.clone();
        let invitees = invitees.to_vec();
        self.rt.block_on(async move {
            for chunk in invitees.chunks(PER_PROFILE) {
                let (owner, pid) = account(&app, "owner").await;
                let profile = profiles::get(&app, pid).await.expect("profile");
                let caller = ProfileCaller {
                    pid,
                    role: Role::Owner,
                    principal: Principal::Account {
                        aid: owner.aid,
                        token_digest: String::new(),
                    },
                    profile,
                };
                for email in chunk {
                    team::invite(
                        &app,
                        &caller,
                        email,
                        Role::Member,
                        &shared::domain::audit::Audit::system(),
                    )
                    .await
                    .expect("invite");
                }
            }
        });
        let events = self.events(|sk| sk.starts_with(keys::INVITE_PREFIX));
        assert_eq!(events.len(), N);
        events
    }

    /// One pass of the handler over `events`; every record must succeed.
    fn handle(&self, events: Vec<StreamEvent>) -> Duration {
        let started = Instant::now();
        let failed = self
            .rt
            .block_on(notify::handle_batch(&self.app, &self.mailer, events));
        let took = started.elapsed();
        assert!(failed.is_empty(), "records failed: {failed:?}");
        took
    }
}

fn handler_per_record(c: &mut Criterion) {
    let mut bench = Bench::new();
    let ignored = bench.ignored();
    let usage = bench.usage();
    let app = bench.app.clone();
    let invitees: Vec<String> = bench.rt.block_on(async move {
        let mut emails = Vec::with_capacity(N);
        for _ in 0..N {
            emails.push(account(&app, "invitee").await.0.email.to_string());
        }
        emails
    });
    // A first pass sends one e-mail per invitation record, and a replay sends none.
    let outbox = bench.outbox.path().join("outbox");
    let batch = bench.invitations(&invitees);
    bench.handle(batch.clone());
    assert_eq!(eml_files(&outbox), N);
    bench.handle(batch);
    assert_eq!(eml_files(&outbox), N);
    // The handler's own writes (sent-markers, links) are not part of the next batches.
    bench.events(|_| false);

    let mut group = c.benchmark_group("notify_200_records");
    group
        .throughput(Throughput::Elements(N as u64))
        .sample_size(50)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("ignored", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| bench.handle(ignored.clone())).sum())
    });
    group.bench_function("usage_no_alert", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| bench.handle(usage.clone())).sum())
    });
    // Tens of milliseconds per batch, plus the making of a fresh batch outside the clock.
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("invitation_email", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let fresh = bench.invitations(&invitees);
                    let took = bench.handle(fresh);
                    bench.events(|_| false);
                    took
                })
                .sum()
        })
    });
    group.finish();
    drop(bench);
}

criterion_group!(benches, handler_per_record);
criterion_main!(benches);
