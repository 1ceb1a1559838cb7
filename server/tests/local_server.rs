//! The local server as a user runs it: the real binary on a free port, on the embedded store,
//! e-mail to the outbox. The whole invite → e-mail → accept → member flow, reading the link's
//! secret from the outbox file; a clean stop on SIGTERM; data surviving a restart.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};
use tenantry_tests::logs;
use tenantry_tests::mailbox::{self, invitation_secret as secret_in};

/// The server's log lines (stderr): to a file for the test command's secret scan when
/// `TENANTRY_TEST_LOG_DIR` is set, else to this test's stderr.
fn server_log() -> Stdio {
    let Some(dir) = std::env::var_os(logs::LOG_DIR_VAR).filter(|dir| !dir.is_empty()) else {
        return Stdio::inherit();
    };
    let dir = PathBuf::from(dir).join("local-server");
    std::fs::create_dir_all(&dir).expect("the log directory");
    let path = dir.join(format!("{}-{}.jsonl", std::process::id(), next_server()));
    std::fs::File::create(&path)
        .unwrap_or_else(|err| panic!("creating {}: {err}", path.display()))
        .into()
}

/// A name unique within this process (one file per server started).
fn next_server() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the server on a free port (PORT=0) and waits for its `listening on` line.
    fn start(data_dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tenantry-local"))
            .env("PORT", "0")
            .env("TENANTRY_DATA_DIR", data_dir)
            .env_remove("TABLE_NAME")
            .env_remove("SES_ENDPOINT")
            .env_remove("MAIL_FROM")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(server_log())
            .spawn()
            .expect("the local server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("a first line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("expected `listening on …`, got {line:?}"))
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        Server { child, base }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                logs::remember_passwords_in(&body);
                request = request.header("content-type", "application/json");
                Full::new(Bytes::from(body.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let response = client
            .request(request.body(body).expect("a request"))
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "the server stopped with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `.eml` files in the outbox addressed to `to`, waiting up to 20 s for `count` of them.
fn wait_for_mail(outbox: &Path, to: &str, count: usize) -> Vec<(PathBuf, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mail = mailbox::outbox_messages_to(outbox, to);
        if mail.len() >= count {
            return mail;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {count} e-mail(s) to {to}, found {}",
            mail.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const PASSWORD: &str = "correct horse battery staple";

async fn sign_up_and_login(server: &Server, email: &str) -> String {
    let (status, body) = server
        .call(
            "POST",
            "/v1/accounts",
            None,
            Some(json!({"email": email, "name": "Local", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["email_verified"], false, "{body}");
    login(server, email).await
}

/// Signs up, verifies the e-mail with the link from the outbox, logs in.
async fn sign_up_verified(server: &Server, outbox: &Path, email: &str) -> String {
    let token = sign_up_and_login(server, email).await;
    let mail = wait_for_mail(outbox, email, 1);
    let secret = mailbox::verification_secret(&mail[0].1);
    let (status, body) = server
        .call(
            "POST",
            "/v1/accounts/verify",
            None,
            Some(json!({"token": secret})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email_verified"], true, "{body}");
    token
}

/// The messages to `to` whose text holds `needle`, waiting up to 20 s for `count` of them.
fn wait_for_mail_with(outbox: &Path, to: &str, needle: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mail: Vec<String> = mailbox::outbox_messages_to(outbox, to)
            .into_iter()
            .map(|(_, eml)| eml)
            .filter(|eml| eml.contains(needle))
            .collect();
        if mail.len() >= count {
            return mail;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {count} e-mail(s) to {to} with {needle}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn login(server: &Server, email: &str) -> String {
    let (status, body) = server
        .call(
            "POST",
            "/v1/login",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("a token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_email_accept_on_the_local_server() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let outbox = data.path().join("outbox");
    let server = Server::start(data.path());

    let owner = sign_up_verified(&server, &outbox, "owner@example.com").await;
    let guest = sign_up_verified(&server, &outbox, "guest@example.com").await;
    let (_, profiles) = server.call("GET", "/v1/profiles", Some(&owner), None).await;
    let pid = profiles["profiles"][0]["id"]
        .as_str()
        .expect("a profile")
        .to_owned();

    let (status, invitation) = server
        .call(
            "POST",
            &format!("/v1/profiles/{pid}/team"),
            Some(&owner),
            Some(json!({"email": "guest@example.com", "role": "admin"})),
        )
        .await;
    assert_eq!(status, 201, "{invitation}");
    let iid = invitation["id"].as_str().expect("an id").to_owned();

    // The e-mail arrives in the outbox, link included.
    let mail: Vec<(PathBuf, String)> = wait_for_mail(&outbox, "guest@example.com", 2)
        .into_iter()
        .filter(|(_, eml)| eml.contains("tnyi_"))
        .collect();
    let (file, eml) = &mail[0];
    assert!(
        file.file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".eml"))
    );
    assert!(
        eml.contains(&format!("/invitations/{iid}#token=tnyi_")),
        "{eml}"
    );
    let secret = secret_in(eml);

    let (status, accepted) = server
        .call(
            "POST",
            &format!("/v1/invitations/{iid}/accept"),
            None,
            Some(json!({"token": secret})),
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
    let (status, team) = server
        .call(
            "GET",
            &format!("/v1/profiles/{pid}/team"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let roles: Vec<(&str, &str)> = team["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| Some((m["email"].as_str()?, m["role"].as_str()?)))
        .collect();
    assert!(roles.contains(&("guest@example.com", "admin")), "{team}");
    let (status, _) = server
        .call("GET", &format!("/v1/profiles/{pid}"), Some(&guest), None)
        .await;
    assert_eq!(status, 200);
    // The owner hears of it.
    let note = wait_for_mail_with(&outbox, "owner@example.com", "joined", 1);
    assert!(note[0].contains("joined"), "{}", note[0]);

    server.stop();

    // Restarted on the same data directory: the data is still there, no e-mail is sent twice.
    let server = Server::start(data.path());
    let owner = login(&server, "owner@example.com").await;
    let (status, team) = server
        .call(
            "GET",
            &format!("/v1/profiles/{pid}/team"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(team.to_string().contains("guest@example.com"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        mailbox::outbox_messages_to(&outbox, "guest@example.com").len(),
        2
    );
    assert_eq!(
        mailbox::outbox_messages_to(&outbox, "owner@example.com").len(),
        2
    );
    server.stop();
}

/// The squatting story: someone signs up with bob's address before bob does. Bob, who owns the
/// mailbox, resets the password through the e-mailed link, logs in, and the squatter's session
/// is dead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_of_a_mailbox_takes_a_squatted_address_back() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let outbox = data.path().join("outbox");
    let server = Server::start(data.path());
    let bob = "bob@corp.example";

    let squatter = sign_up_and_login(&server, bob).await;
    let (status, _) = server
        .call("GET", "/v1/account", Some(&squatter), None)
        .await;
    assert_eq!(status, 200);
    // The real bob cannot sign up: the address is taken (and fresh).
    let (status, body) = server
        .call(
            "POST",
            "/v1/accounts",
            None,
            Some(json!({"email": bob, "name": "Bob", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 409, "{body}");

    // Bob asks for a reset; the link lands in his mailbox, not the squatter's hands.
    let (status, body) = server
        .call(
            "POST",
            "/v1/password-reset",
            None,
            Some(json!({"email": bob})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let mail = wait_for_mail_with(&outbox, bob, "tnyw_", 1);
    let secret = mailbox::reset_secret(&mail[0]);
    let new_password = "bob's own mailbox, bob's own password";
    let (status, body) = server
        .call(
            "POST",
            "/v1/password-reset/confirm",
            None,
            Some(json!({"token": secret, "password": new_password})),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    let (status, body) = server
        .call(
            "POST",
            "/v1/login",
            None,
            Some(json!({"email": bob, "password": new_password})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().expect("a token").to_owned();
    let (status, account) = server.call("GET", "/v1/account", Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(account["email_verified"], true, "{account}");
    // The squatter's session is dead, and the old password no longer works.
    let (status, _) = server
        .call("GET", "/v1/account", Some(&squatter), None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = server
        .call(
            "POST",
            "/v1/login",
            None,
            Some(json!({"email": bob, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 401);
    server.stop();
}
