//! Does the first page of a filtered run-user list cost the same for a profile of 1,000 and of
//! 100,000 run users? (`shared::domain::run_users::list`; the target: the ratio
//! 100,000 / 1,000 stays under 1.5, in items read and in time, on both adapters.)
//!
//! For each adapter (the embedded store always; DynamoDB Local when `DYNAMODB_ENDPOINT` is set,
//! or when asked for with the argument `dynamo`, which then fails loudly without it), one table
//! holds two profiles of one account, with 1,000 and 100,000 run users (on DynamoDB Local
//! 10,000 by default: see below). In each profile:
//!
//! - 5 users carry the tag `plan=gold`; every other user `plan=free` (one in ten `plan=pro`),
//!   and every user a `region` tag (`eu`, `us`, `ap` in turn);
//! - 5 users are named `Zed …` (e-mail `zed.<k>@…`, so `q=zed` matches each by name and by
//!   e-mail); every other name starts with another first name, some of them with `ze` (`Zelda`,
//!   `Zeynep`) but none with `zed`.
//!
//! The special users sit at 10 %, 30 %, … 90 % of the creation order. Then, on each profile, the
//! first page (limit 20) of:
//!
//! - `tag.plan=gold` and `q=zed`: the two measurements;
//! - `tag.region=eu&tag.plan=gold`: the same users, but the first tag (the one the list reads)
//!   is a broad one; shown for what it reveals, not part of the target.
//!
//! Each is counted once (store calls through `shared::store::counting`, items read through a
//! wrapper below: the counting adapter counts calls only) and checked (the right users, every
//! one of them, no next page), then timed warm: 5 runs to warm up, then 50 rounds (the third
//! filter: 1 and 5, it reads a thousand entries and users per page), each timing
//! one run per profile, which goes first alternating, so the noise of the machine falls on both
//! sizes alike. The medians and their ratio 100,000 / 1,000 are printed with the item ratio.
//!
//! Seeding (16 tasks). On the embedded store every user is made through the domain's
//! `run_users::create` (no password, so no argon2), as the route makes it (the profile read
//! first). On DynamoDB Local that is too slow (see `Plan::for_adapter`): there the special users
//! (and the first) are made through `create`, and the others written in transactions of 100
//! writes (20 users of 5 items each), built from the same record type, key functions and index
//! code as `create` (`tenantry_tests::seed`); the `run_users` gauge is then raised once through
//! `usage::gauge_writes`, the function `create` uses. Before measuring, the bench checks that
//! the items `user_writes` builds for a user made by `create` are exactly the items `create`
//! stored, and that the gauge equals the number of users.
//!
//! On DynamoDB Local the table has no stream (see `dynamo_table`: DynamoDB Local writes to a
//! table with a stream about 150 times slower); the list's reads do not depend on it.
//!
//! `cargo bench -p tenantry-tests --bench run_user_list` (arguments after `--`: `embedded`
//! and/or `dynamo` to choose the adapters; on DynamoDB Local the default sizes are 1,000 and
//! 10,000, `RUN_USER_BENCH_DYNAMO_SIZES=1000,100000` for the issue's, about half an hour; other
//! settings under `Plan::for_adapter`). The figures are in BENCHMARKS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shared::app::App;
use shared::config::Config;
use shared::domain::records::{ProfileRecord, RunUserRecord, Tag};
use shared::domain::run_users::list::{self, ListQuery};
use shared::domain::run_users::{self, NewRunUser, fields};
use shared::domain::usage::{self, Service};
use shared::domain::{accounts, profiles, validate};
use shared::email::Email;
use shared::keys;
use shared::refusal::Refusal;
use shared::store::counting::{Calls, CountingTable};
use shared::store::{Key, MAX_TRANSACTION_WRITES, StoreError, Table, Update, Write};
use tenantry_tests::seed::run_user_writes as user_writes;
use uuid::Uuid;

/// The profile sizes measured (the issue's).
const SIZES: [usize; 2] = [1_000, 100_000];
/// The sizes measured on DynamoDB Local by default: seeding 100,000 users there takes about
/// half an hour on this machine (see `Plan::for_adapter`).
const DYNAMO_SIZES: [usize; 2] = [1_000, 10_000];
/// Users with `plan=gold`, and users named `Zed …`, in each profile.
const SPECIAL: usize = 5;
/// Concurrent seeding tasks.
const WORKERS: usize = 16;
/// `create`s that lost a race and were tried again.
static RETRIES: AtomicUsize = AtomicUsize::new(0);
/// Items one run user has (record, e-mail claim, name entry, two tag entries).
const ITEMS_PER_USER: usize = 5;
const WARM_UP: usize = 5;
const ROUNDS: usize = 50;
/// For the filter outside the target (a thousand reads a page).
const FEW_ROUNDS: usize = 5;
/// The page size (the list's default).
const LIMIT: usize = 20;
/// The target for the ratio 100,000 / 1,000.
const TARGET: f64 = 1.5;

const FIRST_NAMES: [&str; 24] = [
    "Alice", "Bruno", "Carla", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Kemal", "Lena", "Marco", "Nadia", "Oscar", "Paula", "Rosa", "Sven", "Tara", "Ugo", "Vera",
    "Yusuf", "Zelda", "Zeynep",
];
const SURNAMES: [&str; 8] = [
    "Martin", "Nakamura", "Okafor", "Petrov", "Quist", "Romero", "Schmidt", "Tan",
];
const REGIONS: [&str; 3] = ["eu", "us", "ap"];

/// The app the bench uses, its table counting calls and the items they read.
struct Counted {
    app: App,
    calls: Arc<CountingTable>,
}

impl Counted {
    fn new(table: Arc<dyn Table>) -> Self {
        let calls = Arc::new(CountingTable::new(table));
        let app = App::new(calls.clone(), Config::default());
        Counted { app, calls }
    }
}

// ---------------------------------------------------------------------------------------------
// The users.

/// What user `i` of a profile of `n` is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Gold(usize),
    Zed(usize),
    Plain,
}

/// The special users sit at 10 %, 30 %, 50 %, 70 %, 90 % of the creation order (gold), and
/// one place after each (zed).
fn role(i: usize, n: usize) -> Role {
    for k in 0..SPECIAL {
        let at = (2 * k + 1) * n / (2 * SPECIAL);
        if i == at {
            return Role::Gold(k);
        }
        if i == at + 1 {
            return Role::Zed(k);
        }
    }
    Role::Plain
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

/// User `i` of a profile of `n`, as `create` is asked for it.
fn new_user(i: usize, n: usize) -> NewRunUser {
    let first = FIRST_NAMES[i % FIRST_NAMES.len()];
    let surname = SURNAMES[(i / FIRST_NAMES.len()) % SURNAMES.len()];
    let region = REGIONS[i % REGIONS.len()];
    let plan = if i.is_multiple_of(10) { "pro" } else { "free" };
    let (name, email, plan) = match role(i, n) {
        Role::Gold(_) => (
            format!("{first} {surname} {i}"),
            format!("{}.{i}@example.com", first.to_lowercase()),
            "gold",
        ),
        Role::Zed(k) => (
            format!("Zed {surname} {k}"),
            format!("zed.{k}@example.com"),
            plan,
        ),
        Role::Plain => (
            format!("{first} {surname} {i}"),
            format!("{}.{i}@example.com", first.to_lowercase()),
            plan,
        ),
    };
    NewRunUser {
        email,
        name,
        tags: vec![tag("plan", plan), tag("region", region)],
        ..NewRunUser::default()
    }
}

/// The record `create` makes of `input` (no password, no optional fields: what the bench asks
/// for), with the same checks.
fn record(app: &App, pid: Uuid, input: NewRunUser) -> RunUserRecord {
    RunUserRecord {
        tags: fields::tags(&input.tags).expect("tags"),
        active: input.active.unwrap_or(true),
        ..RunUserRecord::new(
            pid,
            Email::parse(&input.email).expect("an e-mail"),
            validate::name("name", &input.name).expect("a name"),
            app.now(),
        )
    }
}

/// Whether a refusal is a lost race or an overloaded store: worth trying again.
fn retryable(refusal: &Refusal) -> bool {
    matches!(refusal, Refusal::Contended(_) | Refusal::Unavailable)
}

/// `run_users::create`, as the route calls it: on the profile as read now (the route's access
/// check reads it), tried again when it lost a race for the profile item (the gauge).
async fn create_user(app: &App, pid: Uuid, input: NewRunUser) -> RunUserRecord {
    for _ in 0..200 {
        let profile = profiles::get(app, pid).await.expect("the profile");
        match run_users::create(
            app,
            &profile,
            input.clone(),
            &shared::domain::audit::Audit::system(),
        )
        .await
        {
            Ok(user) => return user,
            Err(refusal) if retryable(&refusal) => {
                RETRIES.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(refusal) => panic!("creating run user {}: {refusal:?}", input.email),
        }
    }
    panic!("creating run user {}: contended 200 times", input.email);
}

/// Writes users `which` of a profile of `n` in one transaction (at most 20 users).
async fn write_bulk(app: &App, pid: Uuid, n: usize, which: &[usize]) {
    let mut writes = Vec::with_capacity(which.len() * ITEMS_PER_USER);
    for &i in which {
        writes.extend(user_writes(&record(app, pid, new_user(i, n))));
    }
    assert!(writes.len() <= MAX_TRANSACTION_WRITES);
    for attempt in 0.. {
        match app.table.transact(writes.clone()).await {
            Ok(()) => return,
            Err(StoreError::Unavailable(error)) if attempt < 50 => {
                eprintln!("  bulk write: store unavailable ({error}); trying again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("bulk write: {error}"),
        }
    }
}

struct Seeded {
    pid: Uuid,
    n: usize,
    through_create: usize,
    bulk: usize,
    took: Duration,
    /// A user `create` made, to check `user_writes` against.
    sample: RunUserRecord,
}

/// Seeds `n` users in profile `pid` (its `run_users` limit already raised).
async fn seed(app: &App, plan: &Plan, pid: Uuid, n: usize) -> Seeded {
    let started = Instant::now();
    let per_tx = MAX_TRANSACTION_WRITES / ITEMS_PER_USER;
    let domain_only = plan.all_create;
    // The first user through `create`, so the tag-key registry exists before any bulk write.
    let first = create_user(app, pid, new_user(0, n)).await;
    let chunks = n.div_ceil(per_tx);
    let next = Arc::new(AtomicUsize::new(0));
    let bulk = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let creates = Arc::new(tokio::sync::Semaphore::new(plan.creates_at_once));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (app, next, bulk, done) = (app.clone(), next.clone(), bulk.clone(), done.clone());
        let creates = creates.clone();
        tasks.spawn(async move {
            let mut made = Vec::new();
            loop {
                let chunk = next.fetch_add(1, Ordering::SeqCst);
                if chunk >= chunks {
                    return made;
                }
                let range = (chunk * per_tx).max(1)..((chunk + 1) * per_tx).min(n);
                // In bulk mode the special users still go through `create`, the plain ones of
                // the chunk in one transaction.
                let (through_create, in_bulk): (Vec<usize>, Vec<usize>) = range
                    .clone()
                    .partition(|&i| domain_only || role(i, n) != Role::Plain);
                for i in through_create {
                    let _permit = creates.acquire().await.expect("the semaphore");
                    let user = create_user(&app, pid, new_user(i, n)).await;
                    if role(i, n) != Role::Plain {
                        made.push(user);
                    }
                }
                if !in_bulk.is_empty() {
                    bulk.fetch_add(in_bulk.len(), Ordering::SeqCst);
                    write_bulk(&app, pid, n, &in_bulk).await;
                }
                let so_far = done.fetch_add(range.len(), Ordering::SeqCst) + range.len();
                let step = (n / 10).max(1);
                if so_far / step != (so_far - range.len()) / step {
                    eprintln!(
                        "  {so_far} of {n} users, {:.1} s, {} retried creates",
                        started.elapsed().as_secs_f64(),
                        RETRIES.load(Ordering::SeqCst)
                    );
                }
            }
        });
    }
    let mut specials = Vec::new();
    while let Some(made) = tasks.join_next().await {
        specials.extend(made.expect("a seeding task"));
    }
    let bulk = bulk.load(Ordering::SeqCst);
    if bulk > 0 {
        // What the bulk users' `create`s would have added to the gauge, in one transaction.
        let profile = profiles::get(app, pid).await.expect("the profile");
        usage::gauge_writes(&profile, Service::RunUsers, bulk as i64, app.now())
            .expect("within the limit")
            .commit(app.table.as_ref())
            .await
            .expect("the gauge");
    }
    let took = started.elapsed();
    let profile = profiles::get(app, pid).await.expect("the profile");
    assert_eq!(
        profile.gauge(Service::RunUsers),
        n as i64,
        "the run_users gauge"
    );
    assert_eq!(specials.len(), 2 * SPECIAL);
    Seeded {
        pid,
        n,
        through_create: n - bulk,
        bulk,
        took,
        sample: specials.into_iter().next().unwrap_or(first),
    }
}

/// The items `user_writes` builds for a user `create` made are the items `create` stored.
async fn check_items_match_create(app: &App, user: &RunUserRecord) {
    for write in user_writes(user) {
        let Write::Put { item, .. } = write else {
            panic!("user_writes only puts");
        };
        let key = Key::of(&item).expect("a key");
        let stored = app.table.get(&key).await.expect("a read");
        assert_eq!(
            stored.as_ref(),
            Some(&item),
            "the bulk seeding builds {key:?} as `create` stores it"
        );
    }
}

/// A profile of the bench's account with its `run_users` limit raised to fit `n` users.
async fn profile_for(app: &App, aid: Uuid, first: Option<ProfileRecord>, n: usize) -> Uuid {
    let pid = match first {
        Some(profile) => profile.pid,
        None => {
            profiles::create(
                app,
                aid,
                &format!("Bench {n}"),
                None,
                &shared::domain::audit::Audit::system(),
            )
            .await
            .expect("a profile")
            .profile
            .pid
        }
    };
    // The bench's setup, not the allocation rules: the limit is written directly.
    app.table
        .update(
            &keys::profile(pid),
            Update::new().set(Service::RunUsers.limit_attr(), (n + 100) as i64),
            None,
        )
        .await
        .expect("raise the limit");
    pid
}

// ---------------------------------------------------------------------------------------------
// The measurements.

#[derive(Clone, Copy)]
enum Filter {
    Gold,
    Zed,
    EuGold,
}

impl Filter {
    fn label(self) -> &'static str {
        match self {
            Filter::Gold => "tag.plan=gold",
            Filter::Zed => "q=zed",
            Filter::EuGold => "tag.region=eu&tag.plan=gold",
        }
    }
    fn query(self) -> ListQuery {
        let mut query = ListQuery {
            limit: Some(LIMIT),
            ..ListQuery::default()
        };
        match self {
            Filter::Gold => query.tags = vec![tag("plan", "gold")],
            Filter::Zed => query.q = Some("zed".to_owned()),
            Filter::EuGold => query.tags = vec![tag("region", "eu"), tag("plan", "gold")],
        }
        query
    }
    /// Whether user `i` of a profile of `n` belongs in the list.
    fn expects(self, i: usize, n: usize) -> bool {
        match (self, role(i, n)) {
            (Filter::Gold, Role::Gold(_)) | (Filter::Zed, Role::Zed(_)) => true,
            (Filter::EuGold, Role::Gold(_)) => REGIONS[i % REGIONS.len()] == "eu",
            _ => false,
        }
    }
    /// Part of the target.
    fn targeted(self) -> bool {
        !matches!(self, Filter::EuGold)
    }
}

/// What one first page cost.
#[derive(Clone, Copy)]
struct Cost {
    calls: Calls,
    items: u64,
    users: usize,
    more: bool,
}

async fn counted_page(counted: &Counted, pid: Uuid, filter: Filter) -> Cost {
    let before = counted.calls.calls();
    let page = list::list(&counted.app, pid, filter.query())
        .await
        .expect("the list");
    let calls = counted.calls.calls().since(&before);
    Cost {
        calls,
        items: calls.items_read,
        users: page.users.len(),
        more: page.next_cursor.is_some(),
    }
}

async fn timed_page(app: &App, pid: Uuid, filter: Filter) -> Duration {
    let started = Instant::now();
    let page = list::list(app, pid, filter.query())
        .await
        .expect("the list");
    let took = started.elapsed();
    std::hint::black_box(page);
    took
}

/// The users the first page must hold: checked once per profile and filter.
async fn check_page(app: &App, seeded: &Seeded, filter: Filter) {
    let page = list::list(app, seeded.pid, filter.query())
        .await
        .expect("the list");
    let mut expected: Vec<String> = (0..seeded.n)
        .filter(|&i| filter.expects(i, seeded.n))
        .map(|i| new_user(i, seeded.n).email)
        .collect();
    let mut got: Vec<String> = page
        .users
        .iter()
        .map(|user| user.email.to_string())
        .collect();
    expected.sort();
    got.sort();
    // The broad first tag reads at most the list's budget: its first page may end early.
    if filter.targeted() {
        assert_eq!(got, expected, "{}: the page's users", filter.label());
        assert!(
            page.next_cursor.is_none(),
            "{}: no next page",
            filter.label()
        );
    } else {
        assert!(
            got.iter().all(|email| expected.contains(email)),
            "{}: only matching users",
            filter.label()
        );
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    let mid = times.len() / 2;
    if times.len().is_multiple_of(2) {
        (times[mid - 1] + times[mid]) / 2
    } else {
        times[mid]
    }
}

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    times.sort();
    let at = ((times.len() - 1) as f64 * p).round() as usize;
    times[at]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

struct Row {
    adapter: &'static str,
    filter: Filter,
    n: usize,
    cost: Cost,
    median: Duration,
    p90: Duration,
}

/// Counts and times every filter on both profiles.
async fn measure(adapter: &'static str, counted: &Counted, profiles: &[Seeded]) -> Vec<Row> {
    let app = &counted.app;
    let mut rows = Vec::new();
    for filter in [Filter::Gold, Filter::Zed, Filter::EuGold] {
        let started = Instant::now();
        let (warm_up, rounds) = if filter.targeted() {
            (WARM_UP, ROUNDS)
        } else {
            (1, FEW_ROUNDS)
        };
        let mut costs = Vec::new();
        for seeded in profiles {
            check_page(app, seeded, filter).await;
            let cost = counted_page(counted, seeded.pid, filter).await;
            // The same page costs the same every time.
            let again = counted_page(counted, seeded.pid, filter).await;
            assert_eq!(
                (cost.calls, cost.items),
                (again.calls, again.items),
                "deterministic"
            );
            costs.push(cost);
        }
        for seeded in profiles {
            for _ in 0..warm_up {
                timed_page(app, seeded.pid, filter).await;
            }
        }
        let mut times = vec![Vec::with_capacity(rounds); profiles.len()];
        for round in 0..rounds {
            let mut order: Vec<usize> = (0..profiles.len()).collect();
            if !round.is_multiple_of(2) {
                order.reverse();
            }
            for i in order {
                times[i].push(timed_page(app, profiles[i].pid, filter).await);
            }
        }
        for ((seeded, cost), mut times) in profiles.iter().zip(costs).zip(times) {
            rows.push(Row {
                adapter,
                filter,
                n: seeded.n,
                cost,
                median: median(&mut times),
                p90: percentile(&mut times, 0.9),
            });
        }
        eprintln!(
            "  {adapter}: `{}` measured in {:.1} s",
            filter.label(),
            started.elapsed().as_secs_f64()
        );
    }
    rows
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn print_rows(rows: &[Row]) {
    println!(
        "| adapter | filter | users | page | more | calls (get + query) | items read | median | p90 |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        let calls = row.cost.calls;
        println!(
            "| {} | `{}` | {} | {} | {} | {} ({} + {}) | {} | {:.3} ms | {:.3} ms |",
            row.adapter,
            row.filter.label(),
            thousands(row.n as u64),
            row.cost.users,
            if row.cost.more { "yes" } else { "no" },
            calls.total(),
            calls.get,
            calls.query,
            thousands(row.cost.items),
            ms(row.median),
            ms(row.p90),
        );
    }
    println!();
    println!(
        "| adapter | filter | sizes | items read, large / small | median time, large / small \
         | target < {TARGET} |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for pair in rows.chunks(2) {
        let [small, large] = pair else { continue };
        let items = large.cost.items as f64 / small.cost.items as f64;
        let time = large.median.as_secs_f64() / small.median.as_secs_f64();
        let verdict = if !small.filter.targeted() {
            "(not a target)"
        } else if items < TARGET && time < TARGET {
            "met"
        } else {
            "NOT MET"
        };
        println!(
            "| {} | `{}` | {} / {} | {items:.2} | {time:.2} | {verdict} |",
            small.adapter,
            small.filter.label(),
            thousands(large.n as u64),
            thousands(small.n as u64),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The DynamoDB Local table.

const BENCH_TABLE_PREFIX: &str = "tenantry-bench-";

/// A fresh table on DynamoDB Local as `DynamoTable::create_table` makes it (keys, `GSI1` with all
/// attributes, on demand), but without a stream: DynamoDB Local (2026-01-16, `-inMemory
/// -sharedDb`) takes about 160 ms per item written to a table with a stream (a transaction of 100
/// puts: 13 – 17 s), about 1 ms without (0.07 – 0.17 s), and still the former when the stream is
/// switched off after creation; half a million items would take a day. The stream feeds only
/// the notifications; the list never reads it. Named apart from the tests' tables, whose
/// clean-up deletes them after 15 minutes; left-overs of this bench older than an hour are
/// deleted here.
async fn dynamo_table() -> (shared::store::dynamo::DynamoTable, String) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TableStatus,
    };
    use shared::store::{GSI1PK, GSI1SK, PK, SK};

    let client = tenantry_tests::fixtures::dynamo_client().await;
    if let Ok(tables) = client.list_tables().send().await {
        let now = chrono::Utc::now().timestamp() as u64;
        for name in tables.table_names() {
            let created = name
                .strip_prefix(BENCH_TABLE_PREFIX)
                .and_then(|id| Uuid::parse_str(id).ok())
                .and_then(|id| id.get_timestamp())
                .map(|at| at.to_unix().0);
            if created.is_some_and(|at| at + 3600 < now) {
                let _ = client.delete_table().table_name(name).send().await;
            }
        }
    }
    let name = format!("{BENCH_TABLE_PREFIX}{}", Uuid::now_v7().simple());
    let string_attr = |attr: &str| {
        AttributeDefinition::builder()
            .attribute_name(attr)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("an attribute")
    };
    let key = |attr: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(key_type)
            .build()
            .expect("a key")
    };
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(shared::store::dynamo::GSI1)
        .key_schema(key(GSI1PK, KeyType::Hash))
        .key_schema(key(GSI1SK, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("an index");
    client
        .create_table()
        .table_name(&name)
        .attribute_definitions(string_attr(PK))
        .attribute_definitions(string_attr(SK))
        .attribute_definitions(string_attr(GSI1PK))
        .attribute_definitions(string_attr(GSI1SK))
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .global_secondary_indexes(gsi)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|err| panic!("creating table {name} on DynamoDB Local: {err:?}"));
    for _ in 0..600 {
        let described = client.describe_table().table_name(&name).send().await;
        if let Ok(out) = described
            && out
                .table()
                .is_some_and(|table| table.table_status() == Some(&TableStatus::Active))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (
        shared::store::dynamo::DynamoTable::new(client, name.clone()),
        name,
    )
}

// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Adapter {
    Embedded,
    Dynamo,
}

/// The adapters asked for on the command line (`embedded`, `dynamo`); by default the embedded
/// store, and DynamoDB Local when `DYNAMODB_ENDPOINT` is set.
fn adapters() -> Vec<Adapter> {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").is_ok_and(|value| !value.trim().is_empty());
    let mut asked = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "embedded" => asked.push(Adapter::Embedded),
            "dynamo" | "dynamodb" => asked.push(Adapter::Dynamo),
            // What `cargo bench` passes to every bench binary.
            "--bench" => {}
            other => panic!("unknown argument `{other}`: `embedded` and/or `dynamo`"),
        }
    }
    if asked.contains(&Adapter::Dynamo) && !endpoint {
        panic!(
            "DynamoDB Local was asked for but DYNAMODB_ENDPOINT is not set: start DynamoDB Local \
             and set DYNAMODB_ENDPOINT (scripts/test.sh does both), or ask for `embedded` only."
        );
    }
    if asked.is_empty() {
        asked.push(Adapter::Embedded);
        if endpoint {
            asked.push(Adapter::Dynamo);
        } else {
            eprintln!(
                "\n*** DYNAMODB_ENDPOINT is not set: DynamoDB Local is NOT measured, only the \
                 embedded store. ***\n"
            );
        }
    }
    asked
}

/// How an adapter's profiles are seeded.
struct Plan {
    sizes: [usize; 2],
    /// Every user through `create`; else only the special ones (and the first), the others in
    /// bulk transactions.
    all_create: bool,
    /// `create`s at once (each updates the profile item, its gauge).
    creates_at_once: usize,
}

impl Plan {
    /// The embedded store: every user through `create` (about 1,300 a second here), 4 at once
    /// (redb runs one write transaction at a time; the reads before it overlap). DynamoDB Local:
    /// bulk, since it takes about 3 ms per item written in a transaction here (a TransactWriteItems
    /// of 100 puts: 0.3 s, and no faster from 8 clients at once; BatchWriteItem is slower still),
    /// so 100,000 users (500,000 items) take about half an hour; and `create`s one at a time, as
    /// concurrent transactions on the profile item stalled DynamoDB Local for minutes.
    ///
    /// Environment: `RUN_USER_BENCH_SIZES` / `RUN_USER_BENCH_DYNAMO_SIZES` (two numbers, e.g.
    /// `1000,100000`), `RUN_USER_BENCH_SEED` (`create` or `bulk`, both adapters),
    /// `RUN_USER_BENCH_CREATES` (`create`s at once).
    fn for_adapter(adapter: Adapter) -> Plan {
        let (sizes_var, sizes, all_create, creates_at_once) = match adapter {
            Adapter::Embedded => ("RUN_USER_BENCH_SIZES", SIZES, true, 4),
            Adapter::Dynamo => ("RUN_USER_BENCH_DYNAMO_SIZES", DYNAMO_SIZES, false, 1),
        };
        Plan {
            sizes: std::env::var(sizes_var).map_or(sizes, |text| two_sizes(sizes_var, &text)),
            all_create: match std::env::var("RUN_USER_BENCH_SEED").as_deref() {
                Ok("create") => true,
                Ok("bulk") => false,
                Ok(other) => panic!("RUN_USER_BENCH_SEED: `create` or `bulk`, not `{other}`"),
                Err(_) => all_create,
            },
            creates_at_once: std::env::var("RUN_USER_BENCH_CREATES")
                .ok()
                .map(|n| n.trim().parse().expect("RUN_USER_BENCH_CREATES: a number"))
                .unwrap_or(creates_at_once)
                .max(1),
        }
    }
}

fn two_sizes(var: &str, text: &str) -> [usize; 2] {
    let sizes: Vec<usize> = text
        .split(',')
        .map(|n| n.trim().parse().expect("a number of users"))
        .collect();
    match sizes[..] {
        [small, large] if small < large => [small, large],
        _ => panic!("{var}: two numbers, the smaller first, e.g. 1000,100000"),
    }
}

async fn run(adapter: Adapter) -> Vec<Row> {
    let (name, table, dynamo_name): (&'static str, Arc<dyn Table>, Option<String>) = match adapter {
        Adapter::Embedded => (
            "embedded",
            tenantry_tests::fixtures::embedded_table().await,
            None,
        ),
        Adapter::Dynamo => {
            let (table, table_name) = dynamo_table().await;
            ("DynamoDB Local", Arc::new(table), Some(table_name))
        }
    };
    let counted = Counted::new(table);
    let app = &counted.app;
    let (account, view) = accounts::create_account(
        app,
        Email::parse("run-user-bench@example.com").expect("an e-mail"),
        "Bench".to_owned(),
        "not-a-hash: never verified in this bench".to_owned(),
    )
    .await
    .expect("the account");
    let mut first = Some(view.profile);
    let plan = Plan::for_adapter(adapter);
    let mut seeded = Vec::new();
    for n in plan.sizes {
        let pid = profile_for(app, account.aid, first.take(), n).await;
        eprintln!("{name}: seeding {n} run users");
        let profile = seed(app, &plan, pid, n).await;
        check_items_match_create(app, &profile.sample).await;
        println!(
            "{name}: seeded {} run users in {:.1} s ({} through `create`, {} in bulk \
             transactions), {:.0} users/s",
            thousands(n as u64),
            profile.took.as_secs_f64(),
            thousands(profile.through_create as u64),
            thousands(profile.bulk as u64),
            n as f64 / profile.took.as_secs_f64(),
        );
        seeded.push(profile);
    }
    let measuring = Instant::now();
    let rows = measure(name, &counted, &seeded).await;
    println!(
        "{name}: measured in {:.1} s",
        measuring.elapsed().as_secs_f64()
    );
    if let Some(table_name) = dynamo_name {
        // Half a million items on a shared DynamoDB Local: free them.
        tenantry_tests::fixtures::delete_tables(&[table_name]).await;
    }
    rows
}

fn main() {
    let adapters = adapters();
    let started = Instant::now();
    // A multi-thread runtime like a Lambda's (`#[tokio::main]`), its workers on the 2 cores.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    for adapter in adapters {
        let rows = rt.block_on(run(adapter));
        println!();
        print_rows(&rows);
        println!();
    }
    println!("\nwhole run: {:.1} s", started.elapsed().as_secs_f64());
}
