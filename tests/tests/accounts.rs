//! The accounts API end to end, on both adapters: sign-up, login, throttle, sessions, logout,
//! and bad input that must write nothing.

use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::json;
use shared::secrets::{self, SecretKind};
use tenantry_tests::api::{Api, PASSWORD};

tenantry_tests::on_both_adapters!(
    sign_up_creates_account_and_first_profile,
    e_mail_is_unique_whatever_its_case,
    bad_sign_ups_write_nothing,
    oversized_and_mistyped_bodies_write_nothing,
    login_answers_alike_for_unknown_e_mail_and_wrong_password,
    login_is_throttled_after_ten_failures,
    the_claim_holds_the_password_hash_a_login_reads,
    logout_revokes_the_session,
    sessions_expire,
    malformed_tokens_are_refused_without_a_read,
    round_trips_per_endpoint,
);

async fn sign_up_creates_account_and_first_profile(api: Api) {
    let reply = api
        .post(
            "/v1/accounts",
            None,
            json!({"email": "  Ann@Example.COM ", "name": " Ann ", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.str("email"), "ann@example.com");
    assert_eq!(reply.str("name"), "Ann");
    assert_eq!(reply.json["profile"]["role"], "owner");
    assert!(
        !reply.text.contains("argon2"),
        "the hash leaked: {}",
        reply.text
    );
    assert!(!reply.text.contains(PASSWORD));

    let token = api.login("ANN@example.com", PASSWORD).await;
    assert_eq!(secrets::parse(&token), Some(SecretKind::Session));
    let me = api.get("/v1/account", &token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.str("id"), reply.str("id"));
    assert_eq!(me.str("email"), "ann@example.com");

    let profiles = api.get("/v1/profiles", &token).await;
    let list = profiles.json["profiles"].as_array().expect("a list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], reply.json["profile"]["id"]);
    assert_eq!(list[0]["role"], "owner");

    // The secret is stored only as its SHA-256.
    let stored = serde_json::to_string(&api.snapshot().await).expect("json");
    assert!(!stored.contains(&token));
    assert!(stored.contains(&secrets::digest(&token)));
    assert!(!stored.contains(PASSWORD));
}

async fn e_mail_is_unique_whatever_its_case(api: Api) {
    api.account("bob@example.com").await;
    let reply = api
        .assert_unchanged("duplicate sign-up", || {
            api.post(
                "/v1/accounts",
                None,
                json!({"email": "BOB@example.com", "name": "Other Bob", "password": PASSWORD}),
            )
        })
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
}

async fn bad_sign_ups_write_nothing(api: Api) {
    api.account("existing@example.com").await;
    let cases = [
        (
            json!({"email": "a@example.com", "name": "A"}),
            422,
            "invalid-body",
            "missing field",
        ),
        (
            json!({"email": "a@example.com", "name": "A", "password": PASSWORD, "admin": true}),
            422,
            "invalid-body",
            "unknown field",
        ),
        (
            json!({"email": "a@example.com", "name": 7, "password": PASSWORD}),
            422,
            "invalid-body",
            "invalid type",
        ),
        (
            json!({"email": "not-an-email", "name": "A", "password": PASSWORD}),
            422,
            "validation-failed",
            "email",
        ),
        (
            json!({"email": "a@example.com", "name": "x".repeat(101), "password": PASSWORD}),
            422,
            "validation-failed",
            "name",
        ),
        (
            json!({"email": "a@example.com", "name": "A", "password": "short"}),
            422,
            "validation-failed",
            "password",
        ),
        (
            json!({"email": "a@example.com", "name": "A", "password": "x".repeat(129)}),
            422,
            "validation-failed",
            "password",
        ),
        (
            json!({"email": "a@example.com", "name": "A", "password": "password1"}),
            422,
            "validation-failed",
            "common",
        ),
        (json!(["not", "an", "object"]), 422, "invalid-body", "body"),
    ];
    for (body, status, kind, detail) in cases {
        let reply = api
            .assert_writes_nothing(&body.to_string(), || {
                api.post("/v1/accounts", None, body.clone())
            })
            .await;
        assert_eq!(reply.status.as_u16(), status, "{body}: {}", reply.text);
        assert_eq!(reply.problem(), kind, "{body}: {}", reply.text);
        assert_eq!(reply.content_type(), "application/problem+json");
        assert_eq!(reply.json["status"], status);
        assert!(reply.json["title"].is_string());
        let text = reply.json["detail"].as_str().unwrap_or("");
        assert!(
            text.contains(detail),
            "{body}: detail {text:?} should name {detail:?}"
        );
    }
}

fn raw(
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(body.into()).expect("a request")
}

async fn oversized_and_mistyped_bodies_write_nothing(api: Api) {
    let account = api.account("carol@example.com").await;
    let big = json!({"email": "big@example.com", "name": "Big", "password": "y".repeat(70 * 1024)})
        .to_string();
    let cases: Vec<(Request<Body>, u16, &str)> = vec![
        (
            raw(Method::POST, "/v1/accounts", Some("application/json"), big),
            413,
            "body-too-large",
        ),
        (
            raw(
                Method::POST,
                "/v1/accounts",
                Some("application/json"),
                "{\"email\": ",
            ),
            400,
            "malformed-json",
        ),
        (
            raw(Method::POST, "/v1/accounts", Some("application/json"), ""),
            400,
            "malformed-json",
        ),
        (
            raw(
                Method::POST,
                "/v1/accounts",
                Some("text/plain"),
                json!({"email": "t@example.com", "name": "T", "password": PASSWORD}).to_string(),
            ),
            415,
            "unsupported-media-type",
        ),
        (
            raw(
                Method::POST,
                "/v1/accounts",
                None,
                json!({"email": "t@example.com", "name": "T", "password": PASSWORD}).to_string(),
            ),
            415,
            "unsupported-media-type",
        ),
    ];
    for (request, status, kind) in cases {
        let reply = api.assert_writes_nothing(kind, || api.send(request)).await;
        assert_eq!(reply.status.as_u16(), status, "{kind}: {}", reply.text);
        assert_eq!(reply.problem(), kind);
        assert_eq!(reply.content_type(), "application/problem+json");
    }
    // A non-UUID id in the path is named as such, and writes nothing.
    let reply = api
        .assert_writes_nothing("non-uuid path", || {
            api.patch(
                "/v1/profiles/not-a-uuid",
                &account.token,
                json!({"name": "X"}),
            )
        })
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.problem(), "invalid-id");
}

async fn login_answers_alike_for_unknown_e_mail_and_wrong_password(api: Api) {
    api.account("dave@example.com").await;
    let wrong = api
        .post(
            "/v1/login",
            None,
            json!({"email": "dave@example.com", "password": "not the password"}),
        )
        .await;
    let unknown = api
        .post(
            "/v1/login",
            None,
            json!({"email": "nobody@example.com", "password": "not the password"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.text, unknown.text);
}

async fn login_is_throttled_after_ten_failures(api: Api) {
    api.account("erin@example.com").await;
    // The throttle counts in fixed windows: start the ten failures at the start of one.
    api.start_login_window();
    for attempt in 1..=10 {
        let reply = api
            .post(
                "/v1/login",
                None,
                json!({"email": "erin@example.com", "password": "wrong password!"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // The right password no longer helps within the window.
    let refused = api
        .post(
            "/v1/login",
            None,
            json!({"email": "erin@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text
    );
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry > 0 && retry <= 15 * 60, "Retry-After {retry}");
    // Another account is not affected.
    api.account("frank@example.com").await;

    api.app.clock.advance(chrono::Duration::minutes(16));
    api.login("erin@example.com", PASSWORD).await;
}

async fn logout_revokes_the_session(api: Api) {
    let account = api.account("gina@example.com").await;
    let other = api.login("gina@example.com", PASSWORD).await;
    let reply = api
        .call(Method::POST, "/v1/logout", Some(&account.token), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let after = api.get("/v1/account", &account.token).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.content_type(), "application/problem+json");
    // Only that session.
    assert_eq!(api.get("/v1/account", &other).await.status, StatusCode::OK);
}

async fn sessions_expire(api: Api) {
    let account = api.account("hank@example.com").await;
    api.app.clock.advance(chrono::Duration::hours(25));
    let reply = api.get("/v1/account", &account.token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
}

async fn malformed_tokens_are_refused_without_a_read(api: Api) {
    let account = api.account("ivy@example.com").await;
    let mut typo = account.token.clone();
    let last = typo.pop().expect("non-empty");
    typo.push(if last == 'A' { 'B' } else { 'A' });
    for token in [typo.as_str(), "nonsense", ""] {
        let before = api.calls();
        let reply = api.get("/v1/account", token).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(
            api.calls().since(&before).total(),
            0,
            "{token:?} reached the store"
        );
    }
    let anonymous = api.call(Method::GET, "/v1/account", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.headers["www-authenticate"], "Bearer");
}

/// The DynamoDB round trips of each endpoint (also recorded in BENCHMARKS.md).
async fn round_trips_per_endpoint(api: Api) {
    let before = api.calls();
    let created = api
        .post(
            "/v1/accounts",
            None,
            json!({"email": "rt@example.com", "name": "RT", "password": PASSWORD}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(
        api.calls().since(&before).total(),
        1,
        "sign-up is one transaction"
    );

    let before = api.calls();
    let token = api.login("rt@example.com", PASSWORD).await;
    assert_eq!(
        api.calls().since(&before).total(),
        4,
        "login: counters (e-mail, address) with the claim (which holds the hash), then the \
         session with the counters' conditions"
    );

    let before = api.calls();
    api.get("/v1/account", &token).await;
    assert_eq!(
        api.calls().since(&before).total(),
        2,
        "GET /v1/account: token, account"
    );

    let before = api.calls();
    let profile = api
        .post("/v1/profiles", Some(&token), json!({"name": "Second"}))
        .await;
    assert_eq!(profile.status, StatusCode::CREATED);
    assert_eq!(
        api.calls().since(&before).total(),
        3,
        "create profile: token, account, transaction"
    );
    let pid = profile.str("id");

    let before = api.calls();
    api.get("/v1/profiles", &token).await;
    assert_eq!(
        api.calls().since(&before).total(),
        2,
        "list profiles: token, one query"
    );

    let before = api.calls();
    api.get(&format!("/v1/profiles/{pid}"), &token).await;
    assert_eq!(
        api.calls().since(&before).total(),
        3,
        "GET profile: token, membership and profile (at once); not metered"
    );

    let before = api.calls();
    let renamed = api
        .patch(
            &format!("/v1/profiles/{pid}"),
            &token,
            json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(
        api.calls().since(&before).total(),
        5,
        "rename: token, membership and profile, team query, transaction; not metered"
    );

    let before = api.calls();
    let out = api
        .call(Method::POST, "/v1/logout", Some(&token), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.calls().since(&before).total(),
        2,
        "logout: token, delete"
    );
}

/// A login reads the e-mail's claim, which holds the account's password hash: every password
/// change keeps the two equal (the invariant checker's `AccountEmailClaim`); a claim written
/// before it held the hash makes the login read the account too.
async fn the_claim_holds_the_password_hash_a_login_reads(api: Api) {
    use shared::email::Email;
    use shared::keys;
    let account = api.account("claim@example.com").await;
    let claim = keys::email_claim(&Email::parse("claim@example.com").expect("an e-mail"));
    let hash_of = |key: shared::store::Key| {
        let api = &api;
        async move {
            let item = api
                .app
                .table
                .get(&key)
                .await
                .expect("a read")
                .expect("an item");
            item["password_hash"].as_str().map(str::to_owned)
        }
    };
    let aid: uuid::Uuid = account.aid.parse().expect("an id");
    assert_eq!(
        hash_of(claim.clone()).await,
        hash_of(keys::account(aid)).await
    );

    // Changed: both at once, and the new password logs in in two steps.
    let changed = api
        .call(
            Method::PUT,
            "/v1/account/password",
            Some(&account.token),
            Some(json!({"current_password": PASSWORD, "new_password": "another long passphrase"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);
    assert_eq!(
        hash_of(claim.clone()).await,
        hash_of(keys::account(aid)).await
    );
    let old = api
        .post(
            "/v1/login",
            None,
            json!({"email": "claim@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let before = api.calls();
    api.login("claim@example.com", "another long passphrase")
        .await;
    assert_eq!(api.calls().since(&before).steps, 2);

    // A claim without the hash (as written before it held one): the account is read too.
    api.app
        .table
        .update(
            &claim,
            shared::store::Update::new().remove("password_hash"),
            None,
        )
        .await
        .expect("an update");
    let before = api.calls();
    api.login("claim@example.com", "another long passphrase")
        .await;
    let made = api.calls().since(&before);
    assert_eq!((made.steps, made.get), (3, 4), "{made:?}");
    let wrong = api
        .post(
            "/v1/login",
            None,
            json!({"email": "claim@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
}
