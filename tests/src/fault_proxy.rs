//! A fault-injecting HTTP/1.1 reverse proxy, for running the API (or the notifications handler)
//! against DynamoDB Local or the SES emulator with a chosen share of calls failing.
//!
//! Each request draws from a seeded RNG (so a run is reproducible given the seed and the order
//! requests arrive in): with probability `share` it suffers one fault, picked evenly from the
//! plan's kinds; otherwise it is forwarded untouched. The share can change at run time
//! ([`FaultProxy::set_share`]), so setup and the final check can run fault-free.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One way a call can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A 500 in the upstream's error shape, without forwarding.
    ServerError,
    /// The upstream's throttling error (DynamoDB: 400 `ThrottlingException`; SES: 429
    /// `TooManyRequestsException`), without forwarding.
    Throttle,
    /// The connection closed without an answer, before forwarding.
    Drop,
    /// Forwarded, applied by the upstream, then the connection closed without an answer: the
    /// call took effect but the client cannot know.
    DropAfterForward,
    /// Held past the client's timeout ([`Plan::delay`]), then the connection closed.
    Delay,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::ServerError,
        Fault::Throttle,
        Fault::Drop,
        Fault::DropAfterForward,
        Fault::Delay,
    ];

    fn index(self) -> usize {
        Fault::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::ServerError => "server_error",
            Fault::Throttle => "throttle",
            Fault::Drop => "drop",
            Fault::DropAfterForward => "drop_after_forward",
            Fault::Delay => "delay",
        }
    }
}

/// Whose error shapes the injected answers take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// DynamoDB's JSON protocol (`__type` in the body).
    Dynamo,
    /// SES v2's REST protocol (`x-amzn-ErrorType` header, `message` in the body).
    Ses,
}

/// What the proxy forwards to and how it fails.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The upstream's base URL, e.g. `http://127.0.0.1:8000`.
    pub upstream: String,
    /// The share of calls that fail, from 0 to 1.
    pub share: f64,
    pub seed: u64,
    /// The kinds a failing call picks from (evenly).
    pub kinds: Vec<Fault>,
    pub flavour: Flavour,
    /// How long [`Fault::Delay`] holds a request before dropping it: longer than the client's
    /// attempt timeout.
    pub delay: Duration,
}

impl Plan {
    /// Every kind of fault, DynamoDB-shaped, a delay of two seconds.
    pub fn new(upstream: impl Into<String>, share: f64, seed: u64) -> Plan {
        Plan {
            upstream: upstream.into(),
            share,
            seed,
            kinds: Fault::ALL.to_vec(),
            flavour: Flavour::Dynamo,
            delay: Duration::from_secs(2),
        }
    }
}

/// Counts so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received.
    pub calls: u64,
    /// Faults injected, by kind (in [`Fault::ALL`] order).
    pub by_kind: [u64; 5],
}

impl Stats {
    pub fn failed(&self) -> u64 {
        self.by_kind.iter().sum()
    }

    pub fn of(&self, fault: Fault) -> u64 {
        self.by_kind[fault.index()]
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "calls {}, failed {} (", self.calls, self.failed())?;
        for (i, fault) in Fault::ALL.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} {}", fault.name(), self.of(*fault))?;
        }
        write!(f, ")")
    }
}

struct State {
    plan: Plan,
    upstream: Uri,
    /// The current share, as `f64` bits.
    share: AtomicU64,
    rng: Mutex<StdRng>,
    calls: AtomicU64,
    by_kind: [AtomicU64; 5],
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

/// The error a handler returns to make hyper close the connection without answering.
#[derive(Debug)]
struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

impl FaultProxy {
    /// Starts a proxy on a free port of 127.0.0.1.
    pub async fn start(plan: Plan) -> std::io::Result<FaultProxy> {
        FaultProxy::start_on(plan, 0).await
    }

    /// Starts a proxy on `port` of 127.0.0.1 (0: any free port).
    pub async fn start_on(plan: Plan, port: u16) -> std::io::Result<FaultProxy> {
        let upstream: Uri = plan
            .upstream
            .parse()
            .map_err(|err| std::io::Error::other(format!("upstream {}: {err}", plan.upstream)))?;
        if plan.kinds.is_empty() {
            return Err(std::io::Error::other(
                "a plan needs at least one fault kind",
            ));
        }
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            share: AtomicU64::new(plan.share.to_bits()),
            rng: Mutex::new(StdRng::seed_from_u64(plan.seed)),
            upstream,
            plan,
            calls: AtomicU64::new(0),
            by_kind: Default::default(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        let serving = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(state.clone(), request));
                    // Ends with an error when a fault drops the connection: that is the point.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FaultProxy { addr, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, for a client's endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the share of calls that fail (0: forward everything).
    pub fn set_share(&self, share: f64) {
        self.state.share.store(share.to_bits(), Ordering::SeqCst);
    }

    pub fn stats(&self) -> Stats {
        Stats {
            calls: self.state.calls.load(Ordering::SeqCst),
            by_kind: std::array::from_fn(|i| self.state.by_kind[i].load(Ordering::SeqCst)),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl State {
    /// Whether this call fails, and how: two draws per call whatever the share, so the sequence
    /// of draws depends on the seed alone.
    fn decide(&self) -> Option<Fault> {
        let share = f64::from_bits(self.share.load(Ordering::SeqCst));
        let (roll, pick) = {
            let mut rng = self
                .rng
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            (
                rng.random::<f64>(),
                rng.random_range(0..self.plan.kinds.len()),
            )
        };
        (roll < share).then(|| self.plan.kinds[pick])
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    state.calls.fetch_add(1, Ordering::SeqCst);
    let fault = state.decide();
    if let Some(fault) = fault {
        state.by_kind[fault.index()].fetch_add(1, Ordering::SeqCst);
    }
    match fault {
        None => Ok(forward(&state, request).await.unwrap_or_else(|err| {
            answer(
                StatusCode::BAD_GATEWAY,
                None,
                format!("fault proxy: upstream failed: {err}"),
            )
        })),
        Some(Fault::ServerError) => Ok(server_error(state.plan.flavour)),
        Some(Fault::Throttle) => Ok(throttle(state.plan.flavour)),
        Some(Fault::Drop) => Err(Dropped),
        Some(Fault::DropAfterForward) => {
            let _ = forward(&state, request).await;
            Err(Dropped)
        }
        Some(Fault::Delay) => {
            tokio::time::sleep(state.plan.delay).await;
            Err(Dropped)
        }
    }
}

/// Sends `request` to the upstream (same method, path, headers and body) and reads its answer
/// whole.
async fn forward(
    state: &State,
    request: Request<Incoming>,
) -> anyhow::Result<Response<Full<Bytes>>> {
    let (mut parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut uri = Uri::builder();
    if let Some(scheme) = state.upstream.scheme() {
        uri = uri.scheme(scheme.clone());
    }
    if let Some(authority) = state.upstream.authority() {
        uri = uri.authority(authority.clone());
    }
    parts.uri = uri
        .path_and_query(
            parts
                .uri
                .path_and_query()
                .map_or("/", |path| path.as_str())
                .to_owned(),
        )
        .build()?;
    let response = state
        .client
        .request(Request::from_parts(parts, Full::new(body)))
        .await?;
    let (mut parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    // The body is whole now: hyper frames it anew.
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.remove(http::header::CONNECTION);
    Ok(Response::from_parts(parts, Full::new(body)))
}

fn server_error(flavour: Flavour) -> Response<Full<Bytes>> {
    match flavour {
        Flavour::Dynamo => dynamo_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "com.amazonaws.dynamodb.v20120810#InternalServerError",
        ),
        Flavour::Ses => ses_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure"),
    }
}

fn throttle(flavour: Flavour) -> Response<Full<Bytes>> {
    match flavour {
        // The SDK retries it as throttling (so does ProvisionedThroughputExceededException).
        Flavour::Dynamo => dynamo_error(
            StatusCode::BAD_REQUEST,
            "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        ),
        Flavour::Ses => ses_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException"),
    }
}

fn dynamo_error(status: StatusCode, kind: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"__type": kind, "message": "injected"}).to_string();
    answer(status, Some("application/x-amz-json-1.0"), body)
}

fn ses_error(status: StatusCode, kind: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"message": "injected"}).to_string();
    let mut response = answer(status, Some("application/json"), body);
    response.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_str(kind).unwrap_or(HeaderValue::from_static("InternalFailure")),
    );
    response
}

fn answer(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: String,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An upstream that answers every request `200 ok`.
    async fn upstream() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = service_fn(|_request: Request<Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        format!("http://{addr}")
    }

    /// The raw bytes a proxy answers one request with (until it closes the connection).
    async fn raw(proxy: &FaultProxy) -> String {
        let mut stream = tokio::net::TcpStream::connect(proxy.addr())
            .await
            .expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    async fn proxy(kinds: Vec<Fault>, share: f64) -> FaultProxy {
        let mut plan = Plan::new(upstream().await, share, 7);
        plan.kinds = kinds;
        plan.delay = Duration::from_millis(50);
        FaultProxy::start(plan).await.expect("start")
    }

    #[tokio::test]
    async fn each_fault_answers_as_described() {
        let clean = proxy(vec![Fault::Drop], 0.0).await;
        assert!(raw(&clean).await.ends_with("ok"));
        let errors = proxy(vec![Fault::ServerError], 1.0).await;
        let answer = raw(&errors).await;
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(answer.contains("InternalServerError"), "{answer}");
        let throttles = proxy(vec![Fault::Throttle], 1.0).await;
        let answer = raw(&throttles).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("#ThrottlingException"), "{answer}");
        for kind in [Fault::Drop, Fault::DropAfterForward, Fault::Delay] {
            let dropping = proxy(vec![kind], 1.0).await;
            assert_eq!(raw(&dropping).await, "", "{kind:?} answers nothing");
            assert_eq!(dropping.stats().of(kind), 1);
        }
        clean.set_share(1.0);
        assert_eq!(raw(&clean).await, "");
        assert_eq!(clean.stats().calls, 2);
        assert_eq!(clean.stats().failed(), 1);
    }

    #[tokio::test]
    async fn the_share_is_kept_and_the_seed_decides() {
        let run = |seed| async move {
            let mut plan = Plan::new(upstream().await, 0.1, seed);
            plan.kinds = vec![Fault::ServerError, Fault::Throttle];
            let proxy = FaultProxy::start(plan).await.expect("start");
            let mut seen = Vec::new();
            for _ in 0..400 {
                seen.push(raw(&proxy).await.split(' ').nth(1).unwrap_or("").to_owned());
            }
            (seen, proxy.stats())
        };
        let (first, stats) = run(1).await;
        let (again, _) = run(1).await;
        let (other, _) = run(2).await;
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert!((20..=60).contains(&stats.failed()), "{stats}");
        assert_eq!(
            stats.failed(),
            stats.of(Fault::ServerError) + stats.of(Fault::Throttle)
        );
    }
}
