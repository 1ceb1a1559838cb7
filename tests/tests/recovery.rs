//! Accounts you can trust: e-mail verification, password reset and change, account deletion,
//! on both adapters. E-mails go through the real notifications handler: each `deliver` hands it
//! the changes made since the last one (read off the table, the shape a stream carries) and
//! records what it sends.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::store::Item;
use tenantry_tests::api::{Api, PASSWORD, Reply};
use tenantry_tests::mailbox::{reset_secret, verification_secret};
use tenantry_tests::post::Post;
use tenantry_tests::world::{person, profile, token};

tenantry_tests::on_both_adapters!(
    verification_link_works_once,
    old_expired_and_forged_verification_links_are_refused,
    unverified_accounts_cannot_be_invited_nor_accept,
    a_stale_unverified_account_is_replaced_a_fresh_one_is_not,
    reset_answers_alike_for_known_and_unknown_emails,
    reset_link_sets_the_password_ends_sessions_verifies_once,
    a_sixth_reset_in_an_hour_sends_no_sixth_email,
    password_change_ends_the_other_sessions,
    account_deletion_removes_everything_and_frees_the_email,
    bad_input_writes_nothing,
);

fn unique(label: &str) -> String {
    format!("{label}-{}@example.com", uuid::Uuid::now_v7().simple())
}

async fn sign_up(api: &Api, email: &str) -> Reply {
    api.post(
        "/v1/accounts",
        None,
        json!({"email": email, "name": "Someone", "password": PASSWORD}),
    )
    .await
}

async fn verify(api: &Api, secret: &str) -> Reply {
    api.post("/v1/accounts/verify", None, json!({"token": secret}))
        .await
}

async fn reset(api: &Api, email: &str) -> Reply {
    api.post("/v1/password-reset", None, json!({"email": email}))
        .await
}

async fn confirm(api: &Api, secret: &str, password: &str) -> Reply {
    api.post(
        "/v1/password-reset/confirm",
        None,
        json!({"token": secret, "password": password}),
    )
    .await
}

async fn try_login(api: &Api, email: &str, password: &str) -> Reply {
    api.post(
        "/v1/login",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

const NEW_PASSWORD: &str = "a brand new password, long enough";

async fn verification_link_works_once(api: Api) {
    let post = Post::new(&api).await;
    let email = unique("ver");
    let account = api.unverified_account(&email).await;
    let me = api.get("/v1/account", &account.token).await;
    assert_eq!(me.json["email_verified"], false, "{}", me.text);

    post.deliver(&api).await;
    let mail = post.to(&email);
    assert_eq!(mail.len(), 1, "one verification e-mail");
    assert!(mail[0].subject.contains("Confirm"), "{}", mail[0].subject);
    let secret = verification_secret(&mail[0].text);

    let verified = verify(&api, &secret).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_eq!(verified.json["email_verified"], true);
    assert_eq!(verified.str("id"), account.aid);
    let me = api.get("/v1/account", &account.token).await;
    assert_eq!(me.json["email_verified"], true);

    let again = verify(&api, &secret).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{}", again.text);
    // A replayed delivery sends nothing new; a verified account cannot ask for another link.
    post.deliver(&api).await;
    assert_eq!(post.to(&email).len(), 1);
    let more = api
        .call(
            Method::POST,
            "/v1/account/verification",
            Some(&account.token),
            None,
        )
        .await;
    assert_eq!(more.status, StatusCode::CONFLICT, "{}", more.text);
}

async fn old_expired_and_forged_verification_links_are_refused(api: Api) {
    let post = Post::new(&api).await;
    let email = unique("old");
    let account = api.unverified_account(&email).await;
    post.deliver(&api).await;
    let first = verification_secret(&post.to(&email)[0].text);

    let again = api
        .call(
            Method::POST,
            "/v1/account/verification",
            Some(&account.token),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text);
    post.deliver(&api).await;
    let mail = post.to(&email);
    assert_eq!(mail.len(), 2);
    let second = verification_secret(&mail[1].text);
    assert_ne!(first, second);
    // The older link stopped working.
    assert_eq!(verify(&api, &first).await.status, StatusCode::UNAUTHORIZED);

    // Forged: a made-up secret, and the real one with a character changed.
    assert_eq!(
        verify(&api, "tnyv_forged").await.status,
        StatusCode::UNAUTHORIZED
    );
    let mut chars: Vec<char> = second.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    let edited: String = chars.into_iter().collect();
    assert_eq!(verify(&api, &edited).await.status, StatusCode::UNAUTHORIZED);
    // A link of another kind is no verification link.
    assert_eq!(
        verify(&api, &account.token).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Expired after 24 hours.
    api.app.clock.advance(chrono::Duration::hours(25));
    let late = verify(&api, &second).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED, "{}", late.text);
    let session = api.login(&email, PASSWORD).await;
    let me = api.get("/v1/account", &session).await;
    assert_eq!(me.json["email_verified"], false);

    // Asking for links is limited per hour.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let reply = api
            .call(
                Method::POST,
                "/v1/account/verification",
                Some(&session),
                None,
            )
            .await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses, [202, 202, 202, 202, 202, 429]);
}

async fn unverified_accounts_cannot_be_invited_nor_accept(api: Api) {
    let (owner, _) = person(&api, "owner").await;
    let pid = profile(&api, &owner, "Team").await;
    let squatter = api.unverified_account(&unique("squat")).await;
    let invite = |email: String| {
        let api = &api;
        let session = owner.session.clone();
        async move {
            api.post(
                &format!("/v1/profiles/{pid}/team"),
                Some(&session),
                json!({"email": email, "role": "admin"}),
            )
            .await
        }
    };
    let unknown = api
        .assert_writes_nothing("an unknown e-mail", || invite(unique("nobody")))
        .await;
    // The invitee's account is checked by the invitation's transaction, not read first: the
    // transaction is refused and writes nothing.
    let unverified = api
        .assert_unchanged("an unverified e-mail", || invite(squatter.email.clone()))
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unverified.status, unknown.status);
    assert_eq!(unverified.json, unknown.json);

    // An invitation made while the address counted as verified (as before this rule) cannot
    // be accepted by an account whose e-mail is not verified.
    let aid: uuid::Uuid = squatter.aid.parse().expect("id");
    tenantry_tests::world::mark_verified(&api, aid).await;
    let invited = invite(squatter.email.clone()).await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
    let iid = invited.str("id");
    api.app
        .table
        .update(
            &shared::keys::account(aid),
            shared::store::Update::new().set("email_verified", false),
            None,
        )
        .await
        .expect("unverified again");
    let accept_path = format!("/v1/invitations/{iid}/accept");
    let accept = api
        .assert_unchanged("accepting unverified", || {
            api.call(Method::POST, &accept_path, Some(&squatter.token), None)
        })
        .await;
    assert_eq!(accept.status, StatusCode::FORBIDDEN, "{}", accept.text);
    assert_eq!(accept.problem(), "email-unverified");
}

async fn a_stale_unverified_account_is_replaced_a_fresh_one_is_not(api: Api) {
    let email = unique("stale");
    let squatter = api.unverified_account(&email).await;
    let fresh = sign_up(&api, &email).await;
    assert_eq!(fresh.status, StatusCode::CONFLICT, "{}", fresh.text);

    api.app.clock.advance(chrono::Duration::hours(25));
    let replaced = sign_up(&api, &email).await;
    assert_eq!(replaced.status, StatusCode::CREATED, "{}", replaced.text);
    assert_eq!(replaced.json["email_verified"], false);
    assert_ne!(replaced.str("id"), squatter.aid);
    // The squatter's account and all it owned are gone.
    let me = api.get("/v1/account", &squatter.token).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    for item in api.snapshot().await {
        // The one thing left is the entry that records the deletion (kept until its ttl).
        if is_deletion_entry(&item, &squatter.aid) {
            continue;
        }
        let text = Value::Object(item).to_string();
        assert!(!text.contains(&squatter.aid), "left: {text}");
        assert!(!text.contains(&squatter.pid), "left: {text}");
    }
    assert_eq!(
        try_login(&api, &email, PASSWORD).await.status,
        StatusCode::OK
    );

    // A verified account is never replaced.
    let kept = api.account(&unique("kept")).await;
    api.app.clock.advance(chrono::Duration::hours(48));
    let taken = sign_up(&api, &kept.email).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
}

async fn reset_answers_alike_for_known_and_unknown_emails(api: Api) {
    let known = api.account(&unique("known")).await;
    let post = Post::new(&api).await;
    let before = api.calls();
    let for_known = reset(&api, &known.email).await;
    let known_calls = api.calls().since(&before);
    let nobody = unique("nobody");
    let before = api.calls();
    // The unknown e-mail's transaction names an account that cannot exist: it writes nothing.
    let for_unknown = api
        .assert_unchanged("a reset for an unknown e-mail", || reset(&api, &nobody))
        .await;
    let unknown_calls = api.calls().since(&before);
    // The same calls either way: a read of the claim, then one transaction (the snapshots of
    // `assert_unchanged` are scans).
    for calls in [&known_calls, &unknown_calls] {
        assert_eq!(
            (calls.get, calls.transact, calls.total() - calls.scan),
            (1, 1, 2),
            "{calls:?}"
        );
    }
    assert_eq!(for_known.status, StatusCode::ACCEPTED, "{}", for_known.text);
    assert_eq!(for_unknown.status, for_known.status);
    assert_eq!(for_unknown.text, for_known.text);
    post.deliver(&api).await;
    assert_eq!(post.to(&known.email).len(), 1);
    assert!(post.to(&nobody).is_empty());
}

async fn reset_link_sets_the_password_ends_sessions_verifies_once(api: Api) {
    let email = unique("reset");
    let account = api.unverified_account(&email).await;
    let second = api.login(&email, PASSWORD).await;
    let post = Post::new(&api).await;
    assert_eq!(reset(&api, &email).await.status, StatusCode::ACCEPTED);
    post.deliver(&api).await;
    let mail = post.to(&email);
    assert_eq!(mail.len(), 1);
    assert!(mail[0].subject.contains("Reset"), "{}", mail[0].subject);
    let secret = reset_secret(&mail[0].text);

    // The password policy applies, and a refused confirm leaves the link usable.
    let short = api
        .assert_writes_nothing("a short password", || confirm(&api, &secret, "short"))
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);

    let done = confirm(&api, &secret, NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text);
    for session in [&account.token, &second] {
        let me = api.get("/v1/account", session).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "every session ends");
    }
    assert_eq!(
        try_login(&api, &email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let token = api.login(&email, NEW_PASSWORD).await;
    let me = api.get("/v1/account", &token).await;
    assert_eq!(me.json["email_verified"], true, "the mailbox was proven");

    let again = confirm(&api, &secret, "yet another password, also long").await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "single use");

    // A link is good for one hour.
    assert_eq!(reset(&api, &email).await.status, StatusCode::ACCEPTED);
    post.deliver(&api).await;
    let late = reset_secret(&post.to(&email)[1].text);
    api.app.clock.advance(chrono::Duration::minutes(61));
    let expired = confirm(&api, &late, "yet another password, also long").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED, "{}", expired.text);
    api.login(&email, NEW_PASSWORD).await;
}

async fn a_sixth_reset_in_an_hour_sends_no_sixth_email(api: Api) {
    let account = api.account(&unique("many")).await;
    let post = Post::new(&api).await;
    let mut bodies = Vec::new();
    for _ in 0..6 {
        let reply = reset(&api, &account.email).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
        bodies.push(reply.text);
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "the same answer every time");
    post.deliver(&api).await;
    assert_eq!(post.to(&account.email).len(), 5);
}

async fn password_change_ends_the_other_sessions(api: Api) {
    let account = api.account(&unique("change")).await;
    let other = api.login(&account.email, PASSWORD).await;
    // A wrong current password only counts as a failed login.
    let wrong = api
        .call(
                Method::PUT,
                "/v1/account/password",
                Some(&account.token),
                Some(json!({"current_password": "not the password at all", "new_password": NEW_PASSWORD})),
            )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    let changed = api
        .call(
            Method::PUT,
            "/v1/account/password",
            Some(&account.token),
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);
    assert_eq!(
        api.get("/v1/account", &account.token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/v1/account", &other).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        try_login(&api, &account.email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    api.login(&account.email, NEW_PASSWORD).await;
}

fn mentions(item: &Item, ids: &[String]) -> bool {
    let text = Value::Object(item.clone()).to_string();
    ids.iter().any(|id| text.contains(id.as_str()))
}

async fn account_deletion_removes_everything_and_frees_the_email(api: Api) {
    use shared::domain::Permission;
    // Leaver owns two profiles (a member and tokens on one), belongs to another tenant's
    // profile with a token there; a third tenant is unrelated.
    let (leaver, first) = person(&api, "leaver").await;
    let second = profile(&api, &leaver, "Second").await;
    let (colleague, _) = person(&api, "colleague").await;
    let (host, _) = person(&api, "host").await;
    let hosted = profile(&api, &host, "Hosted").await;
    let (bystander, bystanders) = person(&api, "bystander").await;
    token(&api, bystanders, &bystander, Permission::Full).await;
    for (pid, by, who) in [(first, &leaver, &colleague), (hosted, &host, &leaver)] {
        let invited = api
            .post(
                &format!("/v1/profiles/{pid}/team"),
                Some(&by.session),
                json!({"email": who.email, "role": "member"}),
            )
            .await;
        assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
        let accepted = api
            .call(
                Method::POST,
                &format!("/v1/invitations/{}/accept", invited.str("id")),
                Some(&who.session),
                None,
            )
            .await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    }
    token(&api, first, &leaver, Permission::Full).await;
    token(&api, first, &colleague, Permission::Read).await;
    let (_, on_hosted) = token(&api, hosted, &leaver, Permission::Write).await;
    assert_eq!(
        reset(&api, &leaver.email).await.status,
        StatusCode::ACCEPTED
    );

    assert_eq!(hosted_gauges(&api, hosted).await, (Some(1), Some(1)));
    let ids = [
        leaver.aid.to_string(),
        first.to_string(),
        second.to_string(),
    ];
    let unrelated: Vec<Item> = api
        .snapshot()
        .await
        .into_iter()
        .filter(|i| mentions(i, &[bystander.aid.to_string(), bystanders.to_string()]))
        .collect();
    assert!(!unrelated.is_empty());

    let wrong = api
        .delete(
            "/v1/account",
            &leaver.session,
            Some(json!({"password": "not it at all"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let gone = api
        .delete(
            "/v1/account",
            &leaver.session,
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);

    let left: Vec<Item> = api.snapshot().await;
    let remaining: Vec<&Item> = left
        .iter()
        .filter(|i| mentions(i, &ids))
        .filter(|i| !i["PK"].as_str().unwrap_or("").starts_with("NOTIFIED#"))
        .filter(|i| !is_deletion_entry(i, &leaver.aid.to_string()))
        // The logs of profiles that live on keep who did what there (by id only).
        .filter(|i| !in_a_living_profile_log(i, &left))
        .collect();
    assert!(remaining.is_empty(), "left behind: {remaining:?}");
    let records = left
        .iter()
        .filter(|i| is_deletion_entry(i, &leaver.aid.to_string()))
        .count();
    assert_eq!(records, 1, "the deletion is recorded once");
    let unrelated_after: Vec<Item> = left
        .iter()
        .filter(|i| mentions(i, &[bystander.aid.to_string(), bystanders.to_string()]))
        .cloned()
        .collect();
    assert_eq!(unrelated_after, unrelated, "another tenant's items changed");
    // The host's profile: the leaver's membership and token are gone, the gauges fell.
    assert_eq!(hosted_gauges(&api, hosted).await, (Some(0), Some(0)));
    assert_eq!(
        api.get("/v1/account", &leaver.session).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get(&format!("/v1/profiles/{hosted}"), &on_hosted)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // The colleague keeps their account, without the deleted profile.
    let mine = api.get("/v1/profiles", &colleague.session).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(!mine.text.contains(&first.to_string()), "{}", mine.text);
    // The e-mail is free again.
    assert_eq!(
        sign_up(&api, &leaver.email).await.status,
        StatusCode::CREATED
    );
}

async fn bad_input_writes_nothing(api: Api) {
    let account = api.unverified_account(&unique("bad")).await;
    let cases: Vec<(&str, Method, &str, Option<&str>, Value)> = vec![
        (
            "reset: bad e-mail",
            Method::POST,
            "/v1/password-reset",
            None,
            json!({"email": "not an address"}),
        ),
        (
            "reset: unknown field",
            Method::POST,
            "/v1/password-reset",
            None,
            json!({"email": account.email, "admin": true}),
        ),
        (
            "confirm: no password",
            Method::POST,
            "/v1/password-reset/confirm",
            None,
            json!({"token": "tnyw_x"}),
        ),
        (
            "verify: wrong type",
            Method::POST,
            "/v1/accounts/verify",
            None,
            json!({"token": 7}),
        ),
        (
            "change: short",
            Method::PUT,
            "/v1/account/password",
            Some(account.token.as_str()),
            json!({"current_password": PASSWORD, "new_password": "short"}),
        ),
        (
            "change: missing",
            Method::PUT,
            "/v1/account/password",
            Some(account.token.as_str()),
            json!({"new_password": NEW_PASSWORD}),
        ),
        (
            "delete: unknown field",
            Method::DELETE,
            "/v1/account",
            Some(account.token.as_str()),
            json!({"password": PASSWORD, "force": true}),
        ),
    ];
    for (what, method, path, token, body) in cases {
        let reply = api
            .assert_writes_nothing(what, || api.call(method, path, token, Some(body)))
            .await;
        assert!(reply.status.is_client_error(), "{what}: {}", reply.text);
        assert_eq!(reply.content_type(), "application/problem+json", "{what}");
    }
    let field = api
        .post("/v1/password-reset", None, json!({"email": "nope"}))
        .await;
    assert_eq!(field.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The `team_members` and `tokens` gauges of profile `pid`.
async fn hosted_gauges(api: &Api, pid: uuid::Uuid) -> (Option<i64>, Option<i64>) {
    let profile = shared::domain::profiles::get(&api.app, pid)
        .await
        .expect("the profile");
    (
        profile.meters.get("used_team_members").copied(),
        profile.meters.get("used_tokens").copied(),
    )
}

/// The audit entry that records the deletion of account `aid` (in its partition, kept until its
/// `ttl` after the account is gone).
fn is_deletion_entry(item: &Item, aid: &str) -> bool {
    item.get("PK").and_then(Value::as_str) == Some(&format!("ACCOUNT#{aid}"))
        && item.get("action").and_then(Value::as_str) == Some("account.deleted")
}

/// Whether `item` is an audit entry of a profile that still exists in `items`.
fn in_a_living_profile_log(item: &Item, items: &[Item]) -> bool {
    let sk = item.get("SK").and_then(Value::as_str).unwrap_or("");
    let pk = item.get("PK").and_then(Value::as_str).unwrap_or("");
    sk.starts_with("AUDIT#")
        && pk.starts_with("PROFILE#")
        && items.iter().any(|other| {
            other.get("PK").and_then(Value::as_str) == Some(pk)
                && other.get("SK").and_then(Value::as_str) == Some("PROFILE")
        })
}
