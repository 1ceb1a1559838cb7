//! The streamed CSV export (`GET /v1/profiles/{pid}/run/users/export`) timed from outside, as a
//! client sees it: the release local server (`tenantry-local`) runs as a child process, on the
//! embedded store and on DynamoDB Local, and this program talks HTTP/1.1 to it.
//!
//! Per adapter, one profile is filled in two steps, and each size is exported from a server
//! started afresh on that data (so the memory the seeding left behind does not count):
//!
//! 1. a server starts; an account signs up and logs in over HTTP; the pool (`POOL_RUN_USERS`,
//!    `POOL_API_REQUESTS` on the server) and the profile's limits are raised; the first
//!    `EXPORT_BENCH_HTTP_SEED` users (default 10,000) are created over HTTP
//!    (`POST …/run/users`, no password, three tags and a company each, 24 requests in flight);
//! 2. the server restarts and the profile is exported `EXPORT_BENCH_RUNS` times (default 3);
//! 3. the users up to the next size are written straight into the table through the store port,
//!    16 users (record, e-mail claim, name entry, three tag entries: what
//!    `run_users::create` writes) per transaction, 8 transactions in flight, and the profile's
//!    `run_users` gauge raised by as many. On the embedded store the server is stopped for
//!    that (redb has one writer process); DynamoDB Local is written while it runs. Creating
//!    100,000 users over HTTP takes several minutes on this machine (each creation is two
//!    fsynced redb commits, or a DynamoDB transaction on a single hot profile item);
//! 4. as 2, for that size.
//!
//! Each export is read as a stream (`hyper`): the time to the response head, to the first body
//! byte, to the first data row, to the end; rows (lines minus the header, checked against the
//! number seeded); rows/s over the whole request. The server's resident memory is sampled from
//! `/proc/<pid>/status` every 5 ms during the export (highest `VmRSS`), and its peak (`VmHWM`)
//! is reset just before (`5` written to `/proc/<pid>/clear_refs`), so the peak is the export's.
//! Before each export the server is left to go idle (its CPU time steady for a second: the
//! embedded store's change feed may still be handling the seeding's records).
//!
//! ```sh
//! source /tmp/env.sh   # DYNAMODB_ENDPOINT and dummy AWS credentials, for DynamoDB Local
//! cargo build --release -p tenantry-local
//! cargo bench -p tenantry-tests --bench export
//! ```
//!
//! Settings (environment): `EXPORT_BENCH_ADAPTERS` (`embedded,dynamo`), `EXPORT_BENCH_SIZES`
//! (`10000,100000`), `EXPORT_BENCH_HTTP_SEED` (10000), `EXPORT_BENCH_RUNS` (3). Asking for
//! `dynamo` without `DYNAMODB_ENDPOINT`, or with DynamoDB Local not answering, fails the bench.
//! The server binary is taken from the target directory this bench runs from: build it first
//! (`cargo build --release -p tenantry-local`); a binary older than its sources is refused.
//! Figures are in BENCHMARKS.md.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use shared::catalogue::Service;
use shared::domain::records::Tag;
use shared::keys;
use shared::store::dynamo::DynamoTable;
use shared::store::embedded::EmbeddedTable;
use shared::store::{Table, Update, Write};
use tenantry_tests::seed;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";
/// Requests in flight while seeding over HTTP.
const HTTP_SEED_CONCURRENCY: usize = 24;
/// Users per transaction when seeding through the store port (6 writes each, at most 100).
const USERS_PER_TRANSACTION: usize = 16;
/// Transactions in flight when seeding through the store port.
const DIRECT_SEED_CONCURRENCY: usize = 8;
/// How often the server's memory is sampled during an export.
const RSS_EVERY: Duration = Duration::from_millis(5);

type HttpClient = Client<HttpConnector, Full<Bytes>>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Adapter {
    Embedded,
    Dynamo,
}

impl Adapter {
    fn name(self) -> &'static str {
        match self {
            Adapter::Embedded => "embedded",
            Adapter::Dynamo => "dynamodb-local",
        }
    }
}

struct Settings {
    adapters: Vec<Adapter>,
    sizes: Vec<usize>,
    http_seed: usize,
    runs: usize,
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|part| part.trim().replace('_', ""))
        .filter(|part| !part.is_empty())
        .collect()
}

fn settings() -> anyhow::Result<Settings> {
    let adapters = env_list("EXPORT_BENCH_ADAPTERS", "embedded,dynamo")
        .iter()
        .map(|name| match name.as_str() {
            "embedded" => Ok(Adapter::Embedded),
            "dynamo" | "dynamodb" => Ok(Adapter::Dynamo),
            other => bail!("EXPORT_BENCH_ADAPTERS: unknown adapter `{other}`"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut sizes = env_list("EXPORT_BENCH_SIZES", "10000,100000")
        .iter()
        .map(|size| size.parse::<usize>().context("EXPORT_BENCH_SIZES"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    sizes.sort_unstable();
    let number = |name: &str, default: usize| -> anyhow::Result<usize> {
        match std::env::var(name) {
            Ok(value) => value
                .trim()
                .replace('_', "")
                .parse()
                .context(name.to_owned()),
            Err(_) => Ok(default),
        }
    };
    let settings = Settings {
        adapters,
        sizes,
        http_seed: number("EXPORT_BENCH_HTTP_SEED", 10_000)?,
        runs: number("EXPORT_BENCH_RUNS", 3)?.max(1),
    };
    if settings.sizes.is_empty() || settings.adapters.is_empty() {
        bail!("nothing to measure: EXPORT_BENCH_SIZES and EXPORT_BENCH_ADAPTERS must not be empty");
    }
    Ok(settings)
}

fn main() -> anyhow::Result<()> {
    let settings = settings()?;
    let endpoint_set =
        std::env::var("DYNAMODB_ENDPOINT").is_ok_and(|value| !value.trim().is_empty());
    if settings.adapters.contains(&Adapter::Dynamo) && !endpoint_set {
        bail!(
            "DYNAMODB_ENDPOINT is not set, and the bench was asked to measure DynamoDB Local: \
             `source /tmp/env.sh` (or set EXPORT_BENCH_ADAPTERS=embedded)"
        );
    }
    let binary = server_binary()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "export bench: adapters {:?}, sizes {:?}, {} over HTTP, {} runs per size; server {}",
        settings
            .adapters
            .iter()
            .map(|adapter| adapter.name())
            .collect::<Vec<_>>(),
        settings.sizes,
        settings.http_seed,
        settings.runs,
        binary.display()
    );
    let mut summary = Vec::new();
    for &adapter in &settings.adapters {
        summary.extend(runtime.block_on(bench_adapter(adapter, &binary, &settings))?);
    }
    print_summary(&summary);
    Ok(())
}

/// The release server next to this bench's own directory (`<target>/release/deps/export-…` →
/// `<target>/release/tenantry-local`), refused when older than a source file it is built from.
///
/// It is not built from here: a `cargo build` started by a `cargo bench` process inherits the
/// variables cargo sets for it (`CARGO_MANIFEST_DIR`, …), which some build scripts (`ring`'s)
/// record, so every later plain build of the server rebuilds the AWS SDK.
fn server_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let release = exe
        .parent()
        .and_then(Path::parent)
        .context("the bench's target directory")?;
    let binary = release.join("tenantry-local");
    let build = "cargo build --release -p tenantry-local";
    let built = std::fs::metadata(&binary)
        .and_then(|meta| meta.modified())
        .with_context(|| {
            format!(
                "no server binary at {}: run `{build}` first",
                binary.display()
            )
        })?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the workspace root")?;
    let mut newest = None;
    for dir in ["shared", "server", "Cargo.lock", "Cargo.toml"] {
        newest_file(&root.join(dir), &mut newest);
    }
    if let Some((changed, path)) = newest
        && changed > built
    {
        bail!(
            "{} is older than {}: run `{build}` first",
            binary.display(),
            path.display()
        );
    }
    Ok(binary)
}

/// The most recently modified file under `path` (skipping `target`).
fn newest_file(path: &Path, newest: &mut Option<(std::time::SystemTime, PathBuf)>) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_dir() {
        if path.file_name().is_some_and(|name| name == "target") {
            return;
        }
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            newest_file(&entry.path(), newest);
        }
    } else if let Ok(modified) = meta.modified()
        && newest.as_ref().is_none_or(|(at, _)| modified > *at)
    {
        *newest = Some((modified, path.to_owned()));
    }
}

/// The local server, as a child process.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(binary: &Path, env: &[(String, String)], log: PathBuf) -> anyhow::Result<Server> {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut command = Command::new(binary);
        command
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .stdin(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("listening on http://127.0.0.1:") {
                    let _ = sender.send(rest.trim().parse::<u16>().ok());
                    break;
                }
            }
            // Keep reading, so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let port = match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(port)) => port,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                let log_text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = log_text.lines().rev().take(20).collect();
                bail!(
                    "the server did not print `listening on` ({other:?}); its log ends with:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        };
        Ok(Server { child, port, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server with SIGTERM (a clean redb close), SIGKILL after 30 s.
    fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.pid().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                bail!(
                    "the server did not stop within 30 s of SIGTERM (log: {})",
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `/proc/<pid>/status` field, in kB.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

/// The process's CPU time so far (user + system), in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn ticks_per_second() -> f64 {
    // getconf CLK_TCK; 100 on every Linux this runs on.
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Waits until the server's CPU time has not moved for a second (at most `limit`); returns how
/// long that took.
async fn wait_idle(pid: u32, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut last = cpu_ticks(pid);
    let mut steady_since = Instant::now();
    while started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = cpu_ticks(pid);
        if now != last {
            last = now;
            steady_since = Instant::now();
        } else if steady_since.elapsed() >= Duration::from_secs(1) {
            break;
        }
    }
    started.elapsed()
}

fn http_client() -> HttpClient {
    Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build_http()
}

/// One JSON request; the status and the body.
async fn call(
    client: &HttpClient,
    method: http::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> anyhow::Result<(http::StatusCode, Bytes)> {
    let mut request = http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match body {
        Some(body) => {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
            Full::new(Bytes::from(serde_json::to_vec(body)?))
        }
        None => Full::new(Bytes::new()),
    };
    let response = client.request(request.body(body)?).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

async fn expect_json(
    client: &HttpClient,
    method: http::Method,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> anyhow::Result<Value> {
    let (status, bytes) = call(client, method.clone(), url, token, Some(body)).await?;
    if !status.is_success() {
        bail!(
            "{method} {url} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// The signed-up account: its first profile and a session token.
struct Account {
    pid: Uuid,
    token: String,
}

async fn sign_up(client: &HttpClient, base: &str, size: usize) -> anyhow::Result<Account> {
    let email = format!("export-bench-{}@example.com", Uuid::now_v7().simple());
    let created = expect_json(
        client,
        http::Method::POST,
        &format!("{base}/v1/accounts"),
        None,
        &json!({"email": email, "name": "Export Bench", "password": PASSWORD}),
    )
    .await?;
    let pid: Uuid = created["profile"]["id"]
        .as_str()
        .context("the sign-up's profile id")?
        .parse()?;
    let login = expect_json(
        client,
        http::Method::POST,
        &format!("{base}/v1/login"),
        None,
        &json!({"email": email, "password": PASSWORD}),
    )
    .await?;
    let token = login["token"].as_str().context("a token")?.to_owned();
    // Room for every user, and for every request of the seeding (each is metered).
    expect_json(
        client,
        http::Method::PUT,
        &format!("{base}/v1/profiles/{pid}/limits"),
        Some(&token),
        &json!({"run_users": size, "api_requests": 4 * size + 1_000}),
    )
    .await?;
    Ok(Account { pid, token })
}

const PLANS: [&str; 3] = ["free", "team", "enterprise"];
const ZONES: [&str; 4] = ["eu-west", "us-east", "ap-south", "sa-east"];

/// User number `i`: the same for both ways of seeding.
fn user_fields(i: usize) -> (String, String, String, Vec<Tag>) {
    let email = format!("user{i:06}@bench.example.com");
    let name = format!("Bench User {i:06}");
    let company = format!("Company {:03}", i % 997);
    let tags = vec![
        Tag {
            key: "plan".into(),
            value: PLANS[i % PLANS.len()].into(),
        },
        Tag {
            key: "zone".into(),
            value: ZONES[i % ZONES.len()].into(),
        },
        Tag {
            key: "cohort".into(),
            value: format!("2026-{:02}", i % 12 + 1),
        },
    ];
    (email, name, company, tags)
}

/// Creates users `from..to` over HTTP, [`HTTP_SEED_CONCURRENCY`] requests in flight.
async fn seed_http(
    client: &HttpClient,
    base: &str,
    account: &Account,
    from: usize,
    to: usize,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(from));
    let retried = Arc::new(AtomicU64::new(0));
    let url = Arc::new(format!("{base}/v1/profiles/{}/run/users", account.pid));
    let token = Arc::new(account.token.clone());
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..HTTP_SEED_CONCURRENCY {
        let (client, next, retried, url, token) = (
            client.clone(),
            next.clone(),
            retried.clone(),
            url.clone(),
            token.clone(),
        );
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    return anyhow::Ok(());
                }
                let (email, name, company, tags) = user_fields(i);
                let body = json!({"email": email, "name": name, "company": company,
                                  "tags": tags});
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let answer =
                        call(&client, http::Method::POST, &url, Some(&token), Some(&body)).await;
                    match answer {
                        Ok((http::StatusCode::CREATED, _)) => break,
                        // An earlier attempt went through after all.
                        Ok((http::StatusCode::CONFLICT, _)) if attempt > 1 => break,
                        Ok((status, bytes))
                            if attempt < 8
                                && (status.is_server_error()
                                    || status == http::StatusCode::CONFLICT) =>
                        {
                            retried.fetch_add(1, Ordering::Relaxed);
                            let _ = bytes;
                            tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                        }
                        Ok((status, bytes)) => bail!(
                            "creating user {i} answered {status}: {}",
                            String::from_utf8_lossy(&bytes)
                        ),
                        Err(error) if attempt < 8 => {
                            retried.fetch_add(1, Ordering::Relaxed);
                            let _ = error;
                            tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                        }
                        Err(error) => return Err(error.context(format!("creating user {i}"))),
                    }
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let retried = retried.load(Ordering::Relaxed);
    if retried > 0 {
        println!("    ({retried} creations retried after a 5xx, a conflict or a transport error)");
    }
    Ok(())
}

/// The writes of user `i` as `run_users::create` makes them (record, e-mail claim, name entry,
/// tag entries), without the gauge (raised once for the whole seed) or the tag-key registry
/// (every key is registered by the HTTP seed).
fn user_writes(pid: Uuid, i: usize, now: chrono::DateTime<chrono::Utc>) -> Vec<Write> {
    let (email, name, company, tags) = user_fields(i);
    seed::run_user_writes(&seed::run_user(pid, &email, name, Some(company), tags, now))
}

/// Writes users `from..to` straight into `table`, and raises the profile's gauge by as many.
async fn seed_direct(
    table: Arc<dyn Table>,
    pid: Uuid,
    from: usize,
    to: usize,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let starts: Vec<usize> = (from..to).step_by(USERS_PER_TRANSACTION).collect();
    let next = Arc::new(AtomicUsize::new(0));
    let starts = Arc::new(starts);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..DIRECT_SEED_CONCURRENCY {
        let (table, next, starts) = (table.clone(), next.clone(), starts.clone());
        workers.spawn(async move {
            loop {
                let Some(&start) = starts.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return anyhow::Ok(());
                };
                let end = (start + USERS_PER_TRANSACTION).min(to);
                let writes: Vec<Write> = (start..end)
                    .flat_map(|i| user_writes(pid, i, now))
                    .collect();
                table
                    .transact(writes)
                    .await
                    .with_context(|| format!("writing users {start}..{end}"))?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    table
        .update(
            &keys::profile(pid),
            Update::new().add(Service::RunUsers.used_attr(), (to - from) as i64),
            None,
        )
        .await
        .context("raising the run_users gauge")?;
    Ok(())
}

/// What one export measured.
#[derive(Clone, Debug)]
struct Export {
    head: Duration,
    first_byte: Duration,
    first_row: Duration,
    total: Duration,
    rows: usize,
    bytes: usize,
    /// The server's resident memory just before, in kB.
    rss_before_kb: u64,
    /// The highest `VmRSS` sampled during the export, in kB.
    rss_sampled_peak_kb: u64,
    /// `VmHWM` after the export (reset just before it), in kB; `None` when it could not be reset.
    hwm_kb: Option<u64>,
    samples: usize,
    /// Server CPU time spent during the export, in seconds.
    cpu_seconds: f64,
}

impl Export {
    fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.total.as_secs_f64()
    }

    fn peak_kb(&self) -> u64 {
        self.hwm_kb
            .unwrap_or(0)
            .max(self.rss_sampled_peak_kb)
            .max(self.rss_before_kb)
    }
}

async fn export(
    client: &HttpClient,
    server: &Server,
    account: &Account,
    expected_rows: usize,
) -> anyhow::Result<Export> {
    let pid = server.pid();
    let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let rss_before_kb = status_kb(pid, "VmRSS").context("the server's VmRSS")?;
    let cpu_before = cpu_ticks(pid).unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut peak, mut samples) = (0u64, 0usize);
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = status_kb(pid, "VmRSS") {
                    peak = peak.max(rss);
                    samples += 1;
                }
                std::thread::sleep(RSS_EVERY);
            }
            (peak, samples)
        })
    };
    let url = format!(
        "{}/v1/profiles/{}/run/users/export",
        server.base(),
        account.pid
    );
    let request = http::Request::get(&url)
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", account.token),
        )
        .body(Full::new(Bytes::new()))?;
    let started = Instant::now();
    let response = client.request(request).await?;
    let head = started.elapsed();
    let status = response.status();
    let mut body = response.into_body();
    if status != http::StatusCode::OK {
        let bytes = body.collect().await?.to_bytes();
        stop.store(true, Ordering::Relaxed);
        let _ = sampler.join();
        bail!(
            "GET {url} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let (mut first_byte, mut first_row) = (None, None);
    let (mut lines, mut bytes, mut last_byte) = (0usize, 0usize, 0u8);
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        first_byte.get_or_insert_with(|| started.elapsed());
        lines += data.iter().filter(|&&byte| byte == b'\n').count();
        if lines >= 2 {
            first_row.get_or_insert_with(|| started.elapsed());
        }
        bytes += data.len();
        last_byte = data[data.len() - 1];
    }
    let total = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (rss_sampled_peak_kb, samples) = sampler.join().expect("the sampler");
    let hwm_kb = if hwm_reset {
        status_kb(pid, "VmHWM")
    } else {
        None
    };
    let cpu_seconds = (cpu_ticks(pid).unwrap_or(0) - cpu_before) as f64 / ticks_per_second();
    if last_byte != b'\n' {
        bail!("the export does not end with a line end: cut short?");
    }
    let rows = lines.saturating_sub(1);
    if rows != expected_rows {
        bail!("the export has {rows} rows; {expected_rows} users were seeded");
    }
    Ok(Export {
        head,
        first_byte: first_byte.unwrap_or(total),
        first_row: first_row.unwrap_or(total),
        total,
        rows,
        bytes,
        rss_before_kb,
        rss_sampled_peak_kb,
        hwm_kb,
        samples,
        cpu_seconds,
    })
}

/// One line of the summary: one adapter, one size, every run.
struct Row {
    adapter: Adapter,
    size: usize,
    runs: Vec<Export>,
    seeding: String,
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

async fn measure(
    client: &HttpClient,
    server: &Server,
    account: &Account,
    adapter: Adapter,
    size: usize,
    runs: usize,
) -> anyhow::Result<Vec<Export>> {
    let mut exports = Vec::new();
    for run in 1..=runs {
        let idle = wait_idle(server.pid(), Duration::from_secs(180)).await;
        let measured = export(client, server, account, size).await?;
        println!(
            "  {} {size} run {run}: head {:.1} ms, first byte {:.1} ms, first row {:.1} ms, \
             total {:.0} ms, {} rows, {:.1} MB, {:.0} rows/s, server CPU {:.2} s; RSS before \
             {:.1} MiB, peak {:.1} MiB (sampled {:.1} MiB over {} samples, VmHWM {}); idle \
             wait {:.1} s",
            adapter.name(),
            ms(measured.head),
            ms(measured.first_byte),
            ms(measured.first_row),
            ms(measured.total),
            measured.rows,
            measured.bytes as f64 / 1e6,
            measured.rows_per_second(),
            measured.cpu_seconds,
            mib(measured.rss_before_kb),
            mib(measured.peak_kb()),
            mib(measured.rss_sampled_peak_kb),
            measured.samples,
            measured
                .hwm_kb
                .map_or("not reset".to_owned(), |kb| format!("{:.1} MiB", mib(kb))),
            idle.as_secs_f64(),
        );
        exports.push(measured);
    }
    Ok(exports)
}

/// Where the adapter's data lives: a temporary directory, or a table on DynamoDB Local.
enum Store {
    Embedded {
        dir: tempfile::TempDir,
    },
    Dynamo {
        client: aws_sdk_dynamodb::Client,
        table: String,
    },
}

impl Store {
    async fn new(adapter: Adapter) -> anyhow::Result<Store> {
        Ok(match adapter {
            Adapter::Embedded => Store::Embedded {
                dir: tempfile::tempdir()?,
            },
            Adapter::Dynamo => {
                let client = tenantry_tests::fixtures::dynamo_client().await;
                let table = format!("tenantry-bench-export-{}", Uuid::now_v7().simple());
                DynamoTable::create_table(&client, &table)
                    .await
                    .with_context(|| {
                        format!(
                            "creating table {table} on DynamoDB Local at {}",
                            std::env::var("DYNAMODB_ENDPOINT").unwrap_or_default()
                        )
                    })?;
                Store::Dynamo { client, table }
            }
        })
    }

    fn server_env(&self, outbox: &Path) -> Vec<(String, String)> {
        let mut env = vec![
            ("POOL_RUN_USERS".to_owned(), "1000000".to_owned()),
            ("POOL_API_REQUESTS".to_owned(), "100000000".to_owned()),
        ];
        match self {
            Store::Embedded { dir } => {
                env.push((
                    "TENANTRY_DATA_DIR".to_owned(),
                    dir.path().display().to_string(),
                ));
            }
            Store::Dynamo { table, .. } => {
                env.push(("TABLE_NAME".to_owned(), table.clone()));
                env.push(("TENANTRY_DATA_DIR".to_owned(), outbox.display().to_string()));
            }
        }
        env
    }

    async fn remove(self) {
        if let Store::Dynamo { client, table } = self {
            let _ = client.delete_table().table_name(&table).send().await;
        }
    }
}

async fn bench_adapter(
    adapter: Adapter,
    binary: &Path,
    settings: &Settings,
) -> anyhow::Result<Vec<Row>> {
    println!("\n== {} ==", adapter.name());
    let store = Store::new(adapter).await?;
    let scratch = tempfile::tempdir()?;
    let env = store.server_env(scratch.path());
    let log = scratch.path().join("server.log");
    let client = http_client();
    let largest = *settings.sizes.last().expect("a size");

    let mut seeded = 0usize;
    let mut account = None;
    let mut rows = Vec::new();
    for &size in &settings.sizes {
        let server = Server::start(binary, &env, log.clone())?;
        let account = match &account {
            Some(account) => account,
            None => account.insert(sign_up(&client, &server.base(), largest).await?),
        };
        let mut seeding = Vec::new();
        // Over HTTP, up to `http_seed`.
        let http_to = size.min(settings.http_seed.max(seeded));
        if http_to > seeded {
            let started = Instant::now();
            seed_http(&client, &server.base(), account, seeded, http_to).await?;
            let took = started.elapsed();
            println!(
                "  seeded users {seeded}..{http_to} over HTTP in {:.1} s ({:.0} users/s)",
                took.as_secs_f64(),
                (http_to - seeded) as f64 / took.as_secs_f64()
            );
            seeding.push(format!(
                "{} over HTTP in {:.0} s",
                http_to - seeded,
                took.as_secs_f64()
            ));
            seeded = http_to;
        }
        // The rest through the store port.
        if size > seeded {
            let started = Instant::now();
            match &store {
                Store::Embedded { dir } => {
                    server.stop()?;
                    let table = Arc::new(EmbeddedTable::open(dir.path().join("tenantry.redb"))?);
                    seed_direct(table, account.pid, seeded, size).await?;
                }
                Store::Dynamo { client, table } => {
                    let table = Arc::new(DynamoTable::new(client.clone(), table.clone()));
                    seed_direct(table, account.pid, seeded, size).await?;
                    server.stop()?;
                }
            }
            let took = started.elapsed();
            println!(
                "  seeded users {seeded}..{size} through the store port in {:.1} s ({:.0} users/s)",
                took.as_secs_f64(),
                (size - seeded) as f64 / took.as_secs_f64()
            );
            seeding.push(format!(
                "{} through the store in {:.0} s",
                size - seeded,
                took.as_secs_f64()
            ));
            seeded = size;
        } else {
            server.stop()?;
        }
        // A fresh server on the data, so the seeding's memory is not counted.
        let server = Server::start(binary, &env, log.clone())?;
        let runs = measure(&client, &server, account, adapter, size, settings.runs).await?;
        server.stop()?;
        rows.push(Row {
            adapter,
            size,
            runs,
            seeding: seeding.join(", then "),
        });
    }
    store.remove().await;
    Ok(rows)
}

fn print_summary(rows: &[Row]) {
    println!(
        "\n| adapter | users | TTFB (first byte), median | first row, median | total, median | \
         rows/s, median | server CPU per 1,000 rows | server RSS before | peak RSS, highest | \
         seeding |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for row in rows {
        let pick = |f: &dyn Fn(&Export) -> f64| median(row.runs.iter().map(f).collect());
        let peak = row.runs.iter().map(Export::peak_kb).max().unwrap_or(0);
        let before = row
            .runs
            .iter()
            .map(|run| run.rss_before_kb)
            .min()
            .unwrap_or(0);
        println!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:.2} s | {:.0} | {:.1} ms | {:.1} MiB | {:.1} MiB | \
             {} |",
            row.adapter.name(),
            row.size,
            pick(&|run| ms(run.first_byte)),
            pick(&|run| ms(run.first_row)),
            pick(&|run| run.total.as_secs_f64()),
            pick(&|run| run.rows_per_second()),
            pick(&|run| run.cpu_seconds * 1e6 / run.rows as f64),
            mib(before),
            mib(peak),
            row.seeding,
        );
    }
    for adapter in [Adapter::Embedded, Adapter::Dynamo] {
        let of: Vec<&Row> = rows.iter().filter(|row| row.adapter == adapter).collect();
        if let (Some(small), Some(large)) = (of.first(), of.last())
            && small.size != large.size
        {
            let peak = |row: &Row| row.runs.iter().map(Export::peak_kb).max().unwrap_or(0);
            println!(
                "{}: peak RSS growth from {} to {} users: {:+.1} MiB",
                adapter.name(),
                small.size,
                large.size,
                (peak(large) as f64 - peak(small) as f64) / 1024.0
            );
        }
    }
}
