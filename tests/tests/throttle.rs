//! The login throttle, on both adapters: an attempt's outcome is told only when its count (or,
//! for a right password, its conditions) lands below the limit, so a burst gets no more than the
//! limit of wrong passwords told apart; counted per e-mail (known or not) and per source
//! address, and refused alike for known and unknown e-mails.

use std::net::SocketAddr;
use std::sync::Arc;

use http::StatusCode;
use serde_json::json;
use shared::config::Config;
use tenantry_tests::api::{Api, PASSWORD, Reply};

tenantry_tests::on_both_adapters!(
    a_burst_gets_at_most_the_limit_verified,
    unknown_e_mails_are_throttled_like_known_ones,
    one_address_is_limited_across_e_mails,
    the_right_password_counts_only_within_the_limit,
    re_entered_passwords_share_the_e_mail_counter,
);

const LIMIT: usize = 10;

fn wrong(email: &str) -> serde_json::Value {
    json!({"email": email, "password": "not the password!"})
}

/// Sends `n` wrong logins for `email` at once; answers the statuses.
async fn burst(api: &Arc<Api>, email: &str, n: usize) -> Vec<StatusCode> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let api = api.clone();
        let body = wrong(email);
        set.spawn(async move { api.post("/v1/login", None, body).await.status });
    }
    set.join_all().await
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

fn retry_after(reply: &Reply) -> u64 {
    reply.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds")
}

async fn a_burst_gets_at_most_the_limit_verified(api: Api) {
    let api = Arc::new(api);
    api.account("burst@example.com").await;
    api.start_login_window();
    let first = burst(&api, "burst@example.com", 30).await;
    assert_eq!(count(&first, StatusCode::UNAUTHORIZED), LIMIT, "{first:?}");
    assert_eq!(count(&first, StatusCode::TOO_MANY_REQUESTS), 30 - LIMIT);

    // The right password is refused too until the window passes.
    let refused = api
        .post(
            "/v1/login",
            None,
            json!({"email": "burst@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);

    // A new window: a burst gets the limit again, not more (no counter is reset mid-burst).
    api.start_login_window();
    let second = burst(&api, "burst@example.com", 30).await;
    assert_eq!(
        count(&second, StatusCode::UNAUTHORIZED),
        LIMIT,
        "{second:?}"
    );
    assert_eq!(count(&second, StatusCode::TOO_MANY_REQUESTS), 30 - LIMIT);

    api.start_login_window();
    api.login("burst@example.com", PASSWORD).await;
}

async fn unknown_e_mails_are_throttled_like_known_ones(api: Api) {
    api.account("known@example.com").await;
    api.start_login_window();
    for email in ["known@example.com", "unknown@example.com"] {
        for attempt in 1..=LIMIT {
            let reply = api.post("/v1/login", None, wrong(email)).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{email} {attempt}");
        }
    }
    let mut answers = Vec::new();
    for _ in 0..2 {
        let known = api
            .post("/v1/login", None, wrong("known@example.com"))
            .await;
        let unknown = api
            .post("/v1/login", None, wrong("unknown@example.com"))
            .await;
        for reply in [&known, &unknown] {
            assert_eq!(
                reply.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{}",
                reply.text
            );
            assert_eq!(reply.problem(), "too-many-attempts");
            let retry = retry_after(reply);
            assert!(retry > 0 && retry <= 15 * 60, "Retry-After {retry}");
        }
        assert_eq!(known.json, unknown.json);
        assert_eq!(known.text, unknown.text);
        // The same window for both: the second answer comes a moment later, so its
        // Retry-After may be a second shorter when a second boundary falls between the two.
        let (known_retry, unknown_retry) = (retry_after(&known), retry_after(&unknown));
        assert!(
            unknown_retry <= known_retry && known_retry - unknown_retry <= 1,
            "the same window for both: {known_retry} and {unknown_retry}"
        );
        answers.push(known.text);
    }
    assert_eq!(answers[0], answers[1]);
}

async fn one_address_is_limited_across_e_mails(api: Api) {
    let config = Config {
        login_max_failures_per_address: 5,
        ..Config::default()
    };
    let api = Api::with_config(api.app.table.clone(), config);
    api.start_login_window();
    let one: SocketAddr = "198.51.100.7:1234".parse().expect("addr");
    let other: SocketAddr = "198.51.100.8:1234".parse().expect("addr");
    for n in 1..=5 {
        let reply = api
            .post_from(one, "/v1/login", wrong(&format!("spray{n}@example.com")))
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "e-mail {n}");
    }
    let refused = api
        .post_from(one, "/v1/login", wrong("spray6@example.com"))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text
    );
    assert!(retry_after(&refused) > 0);
    // Another port is the same address; another address is not limited.
    let same: SocketAddr = "198.51.100.7:9999".parse().expect("addr");
    let again = api
        .post_from(same, "/v1/login", wrong("spray7@example.com"))
        .await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    let elsewhere = api
        .post_from(other, "/v1/login", wrong("spray6@example.com"))
        .await;
    assert_eq!(elsewhere.status, StatusCode::UNAUTHORIZED);
}

async fn the_right_password_counts_only_within_the_limit(api: Api) {
    api.account("rita@example.com").await;
    api.start_login_window();
    for _ in 0..LIMIT - 1 {
        let reply = api.post("/v1/login", None, wrong("rita@example.com")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    // Within the limit the right password logs in, and is not counted as a failure.
    api.login("rita@example.com", PASSWORD).await;
    let last = api.post("/v1/login", None, wrong("rita@example.com")).await;
    assert_eq!(last.status, StatusCode::UNAUTHORIZED, "the 10th failure");
    let over = api.post("/v1/login", None, wrong("rita@example.com")).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    // Past the limit even the right password is refused, until the window passes.
    let right = json!({"email": "rita@example.com", "password": PASSWORD});
    let refused = api.post("/v1/login", None, right.clone()).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    api.app
        .clock
        .advance(chrono::Duration::seconds(retry_after(&refused) as i64));
    let after = api.post("/v1/login", None, right).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
}

async fn re_entered_passwords_share_the_e_mail_counter(api: Api) {
    let ann = api.account("reentry@example.com").await;
    api.start_login_window();
    for _ in 0..LIMIT {
        let reply = api
            .post("/v1/login", None, wrong("reentry@example.com"))
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    // Issuing a token asks for the password again: the right one, past the limit, is refused
    // like a wrong one, and nothing is written (its transaction's conditions fail).
    let tokens = format!("/v1/profiles/{}/tokens", ann.pid);
    let issue = api
        .assert_unchanged("a token issued past the limit", || {
            api.post(
                &tokens,
                Some(&ann.token),
                json!({"name": "deploy", "permission": "read", "password": PASSWORD,
                       "expires_in": "1 day"}),
            )
        })
        .await;
    assert_eq!(
        issue.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        issue.text
    );
    let change = api
        .assert_unchanged("a password changed past the limit", || {
            api.call(
                http::Method::PUT,
                "/v1/account/password",
                Some(&ann.token),
                Some(json!({"current_password": PASSWORD,
                            "new_password": "a brand new passphrase"})),
            )
        })
        .await;
    assert_eq!(
        change.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        change.text
    );
    // In the next window the same request goes through.
    api.start_login_window();
    let issued = api
        .post(
            &tokens,
            Some(&ann.token),
            json!({"name": "deploy", "permission": "read", "password": PASSWORD,
                   "expires_in": "1 day"}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
}
