//! Drives the real routers in-process (no socket), on either adapter, through a counting table
//! so a test can tell how many round trips a request made and whether it wrote anything.

use std::sync::Arc;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shared::app::App;
use shared::config::Config;
use shared::store::counting::{Calls, CountingTable};
use shared::store::{Item, Key, Table, scan_all};
use tower::ServiceExt;

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    /// The problem `type` of an error reply.
    pub fn problem(&self) -> &str {
        self.json["type"].as_str().unwrap_or("")
    }
    pub fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn str(&self, field: &str) -> String {
        self.json[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string `{field}` in {}", self.text))
            .to_owned()
    }
}

/// A signed-up account with a session.
#[derive(Clone, Debug)]
pub struct Account {
    pub aid: String,
    pub email: String,
    pub password: String,
    /// The first profile, created with the account.
    pub pid: String,
    pub token: String,
}

pub const PASSWORD: &str = "correct horse battery staple";

/// The peer address requests come from unless a test names another.
pub const LOCAL_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);

pub struct Api {
    pub app: App,
    pub counting: Arc<CountingTable>,
    router: Router,
}

impl Api {
    pub fn new(table: Arc<dyn Table>) -> Api {
        Api::with_config(table, Config::default())
    }

    pub fn with_config(table: Arc<dyn Table>, config: Config) -> Api {
        crate::logs::init();
        let counting = Arc::new(CountingTable::new(table));
        let app = App::new(counting.clone(), config);
        let router = shared::http::router(app.clone());
        Api {
            app,
            counting,
            router,
        }
    }

    pub async fn on(table: Arc<dyn Table>) -> Api {
        Api::new(table)
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        }
        .expect("a request");
        self.send(request).await
    }

    /// Sends a request from [`LOCAL_PEER`] (as the local server sees its callers), unless it
    /// already names its peer.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.open(request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    /// Sends a request (from [`LOCAL_PEER`] unless it names its peer) and hands back the response
    /// as it comes, its body not read yet: for a test that reads a stream, or stops reading.
    /// Every password in a JSON body is listed for the log scan first ([`crate::logs`]).
    pub async fn open(&self, request: Request<Body>) -> http::Response<Body> {
        let (parts, body) = request.into_parts();
        let bytes = body.collect().await.expect("a request body").to_bytes();
        if let Ok(json) = serde_json::from_slice::<Value>(&bytes) {
            crate::logs::remember_passwords_in(&json);
        }
        let mut request = Request::from_parts(parts, Body::from(bytes));
        if request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_none()
        {
            request.extensions_mut().insert(ConnectInfo(LOCAL_PEER));
        }
        self.router
            .clone()
            .oneshot(request)
            .await
            .expect("the router always answers")
    }

    /// A POST with a JSON body from the peer `from` (the source address the throttle counts).
    pub async fn post_from(&self, from: SocketAddr, path: &str, body: Value) -> Reply {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("a request");
        request.extensions_mut().insert(ConnectInfo(from));
        self.send(request).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }
    pub async fn delete(&self, path: &str, token: &str, body: Option<Value>) -> Reply {
        self.call(Method::DELETE, path, Some(token), body).await
    }

    /// Signs up `email`, marks its e-mail verified (as its link would) and logs in.
    pub async fn account(&self, email: &str) -> Account {
        let account = self.unverified_account(email).await;
        let aid = account.aid.parse().expect("an account id");
        crate::world::mark_verified(self, aid).await;
        account
    }

    /// Signs up `email` (its e-mail left unverified) and logs in.
    pub async fn unverified_account(&self, email: &str) -> Account {
        let created = self
            .post(
                "/v1/accounts",
                None,
                json!({"email": email, "name": "Test User", "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "sign-up: {}",
            created.text
        );
        let token = self.login(email, PASSWORD).await;
        Account {
            aid: created.str("id"),
            email: email.to_owned(),
            password: PASSWORD.to_owned(),
            pid: created.json["profile"]["id"]
                .as_str()
                .expect("the first profile")
                .to_owned(),
            token,
        }
    }

    /// Moves the app's clock to one second into the next login-throttle window, so a test has a
    /// whole window before it (the throttle counts in fixed windows of `login_window`).
    pub fn start_login_window(&self) {
        let length = self.app.config.login_window.as_secs() as i64;
        let now = self.app.now().timestamp();
        let next = (now.div_euclid(length) + 1) * length;
        self.app
            .clock
            .advance(chrono::Duration::seconds(next - now + 1));
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let reply = self
            .post(
                "/v1/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "login: {}", reply.text);
        reply.str("token")
    }

    /// Every item in the store, in key order.
    pub async fn snapshot(&self) -> Vec<Item> {
        let mut items = scan_all(self.app.table.as_ref()).await.expect("scan");
        items.sort_by_key(Key::of);
        items
    }

    pub fn calls(&self) -> Calls {
        self.counting.calls()
    }

    /// Every item but the usage counters (`USAGE#` items): the data a request may not change
    /// when it is refused. (A request that reaches a metered application route is counted,
    /// refused or not.)
    pub async fn data(&self) -> Vec<Item> {
        let mut items = self.snapshot().await;
        items.retain(|item| !item["SK"].as_str().unwrap_or("").starts_with("USAGE#"));
        items
    }

    /// Runs `request` and asserts it wrote nothing: no write call but at most one update (the
    /// metering of an application route, or an API token's last use), and unchanged data. For
    /// input refused before any rule is checked.
    pub async fn assert_writes_nothing<F, Fut>(&self, what: &str, request: F) -> Reply
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Reply>,
    {
        let calls = self.calls();
        let reply = self.assert_unchanged(what, request).await;
        let made = self.calls().since(&calls);
        assert_eq!(
            made.put + made.delete + made.transact,
            0,
            "{what}: made write calls {made:?} ({})",
            reply.text
        );
        assert!(
            made.update <= 1,
            "{what}: more than the metering or last-use update {made:?}"
        );
        reply
    }

    /// Runs `request` and asserts the data is exactly as before (a conditional write that was
    /// refused may have been attempted).
    pub async fn assert_unchanged<F, Fut>(&self, what: &str, request: F) -> Reply
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Reply>,
    {
        let before = self.data().await;
        let reply = request().await;
        assert_eq!(
            self.data().await,
            before,
            "{what}: the data changed ({})",
            reply.text
        );
        reply
    }
}
