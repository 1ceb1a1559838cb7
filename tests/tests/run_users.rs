//! Run users end to end, on both adapters: sign-up settings and sign-up, login and sessions,
//! self-service, management by the team, password reset by e-mail, the list, the gauge.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::secrets::{self, SecretKind};
use tenantry_tests::api::{Account, Api, PASSWORD, Reply};
use tenantry_tests::mailbox::reset_secret;
use tenantry_tests::post::Post;
use tokio::task::JoinSet;

tenantry_tests::on_both_adapters!(
    settings_are_public_and_govern_sign_up,
    bad_settings_and_sign_ups_name_the_field_and_write_nothing,
    login_me_logout_and_no_enumeration,
    run_user_tokens_reach_nothing_of_the_team,
    an_email_is_unique_per_profile_and_free_across_profiles,
    the_team_manages_run_users_and_cuts_their_sessions,
    own_password_change_keeps_this_session_and_ends_the_others,
    password_reset_by_email_works_once_on_its_own_profile,
    paging_filters_and_orders,
    cursors_are_bound_to_the_profile_and_the_query,
    the_gauge_holds_under_concurrent_sign_ups,
    bounds_are_refused_and_write_nothing,
    run_user_routes_count_api_requests,
    a_sessions_claim_is_a_hint_and_no_claim_still_works,
);

const RUN_PASSWORD: &str = "run user's long passphrase";

fn unique(label: &str) -> String {
    format!("{label}-{}@example.com", uuid::Uuid::now_v7().simple())
}

async fn put(api: &Api, path: &str, token: Option<&str>, body: Value) -> Reply {
    api.call(Method::PUT, path, token, Some(body)).await
}

/// Opens sign-up on `owner`'s first profile with `fields`.
async fn open_sign_up(api: &Api, owner: &Account, fields: Value) {
    let reply = put(
        api,
        &format!("/v1/profiles/{}/run/settings", owner.pid),
        Some(&owner.token),
        json!({"signup_enabled": true, "fields": fields}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

async fn sign_up(api: &Api, pid: &str, email: &str, extra: Value) -> Reply {
    let mut body = json!({"email": email, "name": "Rita Runner", "password": RUN_PASSWORD});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    api.post(&format!("/v1/profiles/{pid}/run/signup"), None, body)
        .await
}

async fn run_login(api: &Api, pid: &str, email: &str, password: &str) -> Reply {
    api.post(
        &format!("/v1/profiles/{pid}/run/login"),
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

/// Signs a run user up on `owner`'s profile (sign-up opened without fields) and logs it in.
async fn signed_in(api: &Api, owner: &Account, email: &str) -> (String, String) {
    let created = sign_up(api, &owner.pid, email, json!({})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let login = run_login(api, &owner.pid, email, RUN_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    (created.str("id"), login.str("token"))
}

async fn create(api: &Api, owner: &Account, body: Value) -> Reply {
    api.post(
        &format!("/v1/profiles/{}/run/users", owner.pid),
        Some(&owner.token),
        body,
    )
    .await
}

/// What `owner`'s profile used of `service` this month.
async fn used(api: &Api, owner: &Account, service: &str) -> Value {
    let usage = api
        .get(&format!("/v1/profiles/{}/usage", owner.pid), &owner.token)
        .await;
    usage.json["services"][service]["used"].clone()
}

fn user_path(owner: &Account, uid: &str) -> String {
    format!("/v1/profiles/{}/run/users/{uid}", owner.pid)
}

async fn settings_are_public_and_govern_sign_up(api: Api) {
    let ann = api.account("ann@example.com").await;
    let settings_path = format!("/v1/profiles/{}/run/settings", ann.pid);
    let closed = api.call(Method::GET, &settings_path, None, None).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    assert_eq!(closed.json, json!({"signup_enabled": false, "fields": []}));
    let refused = sign_up(&api, &ann.pid, "early@example.com", json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);

    let fields = json!([
        {"key": "plan", "label": "Plan", "type": "select", "required": true, "options": ["free", "gold"]},
        {"key": "seats", "label": "Seats", "type": "number"},
        {"key": "billing", "label": "Billing e-mail", "type": "email"},
        {"key": "mobile", "label": "Mobile", "type": "phone"},
        {"key": "team", "label": "Team", "type": "text"},
    ]);
    open_sign_up(&api, &ann, fields.clone()).await;
    let open = api.call(Method::GET, &settings_path, None, None).await;
    assert_eq!(open.json["signup_enabled"], true);
    assert_eq!(open.json["fields"][0]["options"], json!(["free", "gold"]));
    assert_eq!(open.json["fields"][1]["required"], false);

    let created = sign_up(
        &api,
        &ann.pid,
        "Rita@Example.com",
        json!({"plan": "gold", "seats": 12, "billing": "Billing@Example.com", "mobile": "+1 (555) 010-0199", "company": "Acme"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.str("email"), "rita@example.com");
    assert_eq!(created.str("company"), "Acme");
    assert_eq!(created.json["active"], true);
    assert_eq!(
        created.json["tags"],
        json!([
            {"key": "plan", "value": "gold"},
            {"key": "seats", "value": "12"},
            {"key": "billing", "value": "billing@example.com"},
            {"key": "mobile", "value": "+1 (555) 010-0199"},
        ])
    );
    assert!(created.json.get("password_hash").is_none());
    assert!(!created.text.contains("argon2"));
}

async fn bad_settings_and_sign_ups_name_the_field_and_write_nothing(api: Api) {
    let ann = api.account("ann@example.com").await;
    let path = format!("/v1/profiles/{}/run/settings", ann.pid);
    for (fields, field) in [
        (
            json!([{"key": "email", "label": "E", "type": "text"}]),
            "fields[0].key",
        ),
        (
            json!([{"key": "plan", "label": "P", "type": "select"}]),
            "fields[0].options",
        ),
        (
            json!([{"key": "n", "label": "N", "type": "number", "options": ["1"]}]),
            "fields[0].options",
        ),
        (
            json!([{"key": "a", "label": "A", "type": "text"}, {"key": "a", "label": "B", "type": "text"}]),
            "fields[1].key",
        ),
        (
            json!([{"key": "a", "label": "", "type": "text"}]),
            "fields[0].label",
        ),
    ] {
        let reply = api
            .assert_writes_nothing("bad settings", || {
                put(
                    &api,
                    &path,
                    Some(&ann.token),
                    json!({"signup_enabled": true, "fields": fields}),
                )
            })
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text
        );
        assert_eq!(reply.json["field"], field, "{}", reply.text);
    }
    let unknown_type = put(
        &api,
        &path,
        Some(&ann.token),
        json!({"signup_enabled": true, "fields": [{"key": "a", "label": "A", "type": "date"}]}),
    )
    .await;
    assert_eq!(unknown_type.status, StatusCode::UNPROCESSABLE_ENTITY);

    open_sign_up(
        &api,
        &ann,
        json!([
            {"key": "plan", "label": "Plan", "type": "select", "required": true, "options": ["free", "gold"]},
            {"key": "seats", "label": "Seats", "type": "number"},
            {"key": "billing", "label": "Billing", "type": "email"},
            {"key": "mobile", "label": "Mobile", "type": "phone"},
        ]),
    )
    .await;
    for (extra, field) in [
        (json!({}), "plan"),
        (json!({"plan": "platinum"}), "plan"),
        (json!({"plan": 3}), "plan"),
        (json!({"plan": "gold", "seats": "many"}), "seats"),
        (
            json!({"plan": "gold", "billing": "not an address"}),
            "billing",
        ),
        (json!({"plan": "gold", "mobile": "call me"}), "mobile"),
        (json!({"plan": "gold", "favourite": "blue"}), "favourite"),
        (json!({"plan": "gold", "tags": []}), "tags"),
        (json!({"plan": "gold", "active": false}), "active"),
    ] {
        let reply = api
            .assert_writes_nothing("a bad sign-up", || {
                sign_up(&api, &ann.pid, "rita@example.com", extra.clone())
            })
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{extra}: {}",
            reply.text
        );
        assert_eq!(reply.json["field"], field, "{extra}: {}", reply.text);
    }
    let weak = sign_up(
        &api,
        &ann.pid,
        "rita@example.com",
        json!({"plan": "gold", "password": "short"}),
    )
    .await;
    assert_eq!(
        weak.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        weak.text
    );
}

async fn login_me_logout_and_no_enumeration(api: Api) {
    let ann = api.account("ann@example.com").await;
    open_sign_up(&api, &ann, json!([])).await;
    let (uid, token) = signed_in(&api, &ann, "rita@example.com").await;
    assert_eq!(secrets::parse(&token), Some(SecretKind::RunUser));
    assert!(token.starts_with("tnyr_"));

    let wrong = run_login(&api, &ann.pid, "rita@example.com", "not the passphrase").await;
    let unknown = run_login(&api, &ann.pid, "nobody@example.com", RUN_PASSWORD).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json, unknown.json, "no enumeration");

    let me = api.get("/v1/run/me", &token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.str("id"), uid);
    assert!(me.json["last_login"].is_string());
    assert!(me.json.get("password_hash").is_none());

    let edited = api
        .patch(
            "/v1/run/me",
            &token,
            json!({"name": "Rita R.", "timezone": "Europe/Lisbon", "language": "pt-PT"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    assert_eq!(edited.str("name"), "Rita R.");
    assert_eq!(edited.str("timezone"), "Europe/Lisbon");
    let cleared = api
        .patch("/v1/run/me", &token, json!({"timezone": null}))
        .await;
    assert_eq!(cleared.json["timezone"], Value::Null);
    for forbidden in [
        json!({"tags": []}),
        json!({"active": false}),
        json!({"email": "x@example.com"}),
    ] {
        let reply = api
            .assert_unchanged("a run user editing what the team decides", || {
                api.patch("/v1/run/me", &token, forbidden.clone())
            })
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{forbidden}: {}",
            reply.text
        );
    }

    let out = api.post("/v1/run/logout", Some(&token), json!({})).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text);
    assert_eq!(
        api.get("/v1/run/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn run_user_tokens_reach_nothing_of_the_team(api: Api) {
    let ann = api.account("ann@example.com").await;
    let bob = api.account("bob@example.com").await;
    open_sign_up(&api, &ann, json!([])).await;
    let (uid, token) = signed_in(&api, &ann, "rita@example.com").await;
    for (path, status) in [
        ("/v1/account".to_owned(), StatusCode::FORBIDDEN),
        ("/v1/profiles".to_owned(), StatusCode::FORBIDDEN),
        (format!("/v1/profiles/{}", ann.pid), StatusCode::NOT_FOUND),
        (
            format!("/v1/profiles/{}/team", ann.pid),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/v1/profiles/{}/tokens", ann.pid),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/v1/profiles/{}/usage", ann.pid),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/v1/profiles/{}/run/users", ann.pid),
            StatusCode::NOT_FOUND,
        ),
        (user_path(&ann, &uid), StatusCode::NOT_FOUND),
        (
            format!("/v1/profiles/{}/run/users", bob.pid),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let reply = api.get(&path, &token).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text);
    }
    let limits = put(
        &api,
        &format!("/v1/profiles/{}/limits", ann.pid),
        Some(&token),
        json!({"run_users": 1}),
    )
    .await;
    assert_eq!(limits.status, StatusCode::NOT_FOUND);
    // A team session or an API token on the run users' own routes.
    assert_eq!(
        api.get("/v1/run/me", &ann.token).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.get("/v1/run/me", "tnyr_forged").await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn an_email_is_unique_per_profile_and_free_across_profiles(api: Api) {
    let ann = api.account("ann@example.com").await;
    let bob = api.account("bob@example.com").await;
    open_sign_up(&api, &ann, json!([])).await;
    open_sign_up(&api, &bob, json!([])).await;
    let at_ann = sign_up(&api, &ann.pid, "rita@example.com", json!({})).await;
    assert_eq!(at_ann.status, StatusCode::CREATED);
    let other_password = json!({"password": "another long passphrase"});
    let at_bob = sign_up(&api, &bob.pid, "RITA@example.com", other_password).await;
    assert_eq!(at_bob.status, StatusCode::CREATED, "{}", at_bob.text);
    assert_ne!(at_ann.str("id"), at_bob.str("id"));
    let again = api
        .assert_unchanged("a second sign-up with the e-mail", || {
            sign_up(&api, &ann.pid, "Rita@Example.com", json!({}))
        })
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    let by_team = create(
        &api,
        &ann,
        json!({"email": "rita@example.com", "name": "Rita"}),
    )
    .await;
    assert_eq!(by_team.status, StatusCode::CONFLICT);
    // Each record has its own password.
    assert_eq!(
        run_login(&api, &ann.pid, "rita@example.com", RUN_PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        run_login(&api, &bob.pid, "rita@example.com", RUN_PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Ann's team sees only Ann's run user.
    let listed = api
        .get(&format!("/v1/profiles/{}/run/users", ann.pid), &ann.token)
        .await;
    assert_eq!(listed.json["users"].as_array().map(Vec::len), Some(1));
    let foreign = api
        .get(&user_path(&ann, &at_bob.str("id")), &ann.token)
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

async fn the_team_manages_run_users_and_cuts_their_sessions(api: Api) {
    let ann = api.account("ann@example.com").await;
    let created = create(
        &api,
        &ann,
        json!({"email": "rita@example.com", "name": "Rita", "password": RUN_PASSWORD, "company": "Acme",
               "tags": [{"key": "plan", "value": "gold"}]}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let uid = created.str("id");
    let path = user_path(&ann, &uid);
    let read = api.get(&path, &ann.token).await;
    assert_eq!(read.json["tags"], json!([{"key": "plan", "value": "gold"}]));

    let session = run_login(&api, &ann.pid, "rita@example.com", RUN_PASSWORD)
        .await
        .str("token");
    let edited = api
        .patch(&path, &ann.token, json!({"name": "Rita Q.", "tags": [{"key": "plan", "value": "free"}, {"key": "region", "value": "eu"}]}))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    assert_eq!(
        edited.json["tags"][1],
        json!({"key": "region", "value": "eu"})
    );
    assert_eq!(
        api.get("/v1/run/me", &session).await.status,
        StatusCode::OK,
        "editing info keeps sessions"
    );

    // Deactivation cuts the live session at once; the right password then says so.
    let off = api.patch(&path, &ann.token, json!({"active": false})).await;
    assert_eq!(off.json["active"], false);
    assert_eq!(
        api.get("/v1/run/me", &session).await.status,
        StatusCode::UNAUTHORIZED
    );
    let inactive = run_login(&api, &ann.pid, "rita@example.com", RUN_PASSWORD).await;
    assert_eq!(inactive.status, StatusCode::FORBIDDEN, "{}", inactive.text);
    assert_eq!(inactive.problem(), "user-inactive");
    let wrong = run_login(&api, &ann.pid, "rita@example.com", "a wrong passphrase!").await;
    assert_eq!(
        wrong.status,
        StatusCode::UNAUTHORIZED,
        "inactive only after a right password"
    );
    api.patch(&path, &ann.token, json!({"active": true})).await;
    assert_eq!(
        api.get("/v1/run/me", &session).await.status,
        StatusCode::UNAUTHORIZED,
        "a cut session stays cut"
    );
    let again = run_login(&api, &ann.pid, "rita@example.com", RUN_PASSWORD)
        .await
        .str("token");

    // A password set by the team ends the sessions; the new one works.
    let set = put(
        &api,
        &format!("{path}/password"),
        Some(&ann.token),
        json!({"password": "a brand new passphrase"}),
    )
    .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.text);
    assert_eq!(
        api.get("/v1/run/me", &again).await.status,
        StatusCode::UNAUTHORIZED
    );
    let newest = run_login(&api, &ann.pid, "rita@example.com", "a brand new passphrase").await;
    assert_eq!(newest.status, StatusCode::OK);
    let last = newest.str("token");

    // A user made without a password cannot log in (until a reset).
    let bare = create(
        &api,
        &ann,
        json!({"email": "bare@example.com", "name": "Bare"}),
    )
    .await;
    assert_eq!(bare.status, StatusCode::CREATED);
    assert_eq!(
        run_login(&api, &ann.pid, "bare@example.com", "")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(used(&api, &ann, "run_users").await, 2);
    let deleted = api.delete(&path, &ann.token, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_eq!(
        api.get("/v1/run/me", &last).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get(&path, &ann.token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(used(&api, &ann, "run_users").await, 1);
    // The e-mail is free again.
    let reborn = create(
        &api,
        &ann,
        json!({"email": "rita@example.com", "name": "Rita again"}),
    )
    .await;
    assert_eq!(reborn.status, StatusCode::CREATED, "{}", reborn.text);
    // A read token reads, and may not change.
    let read_token = api
        .post(
            &format!("/v1/profiles/{}/tokens", ann.pid),
            Some(&ann.token),
            json!({"name": "ro", "permission": "read", "expires_in": "1 day", "password": PASSWORD}),
        )
        .await
        .str("token");
    assert_eq!(
        api.get(&user_path(&ann, &reborn.str("id")), &read_token)
            .await
            .status,
        StatusCode::OK
    );
    let refused = api
        .patch(
            &user_path(&ann, &reborn.str("id")),
            &read_token,
            json!({"name": "X"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn own_password_change_keeps_this_session_and_ends_the_others(api: Api) {
    let ann = api.account("ann@example.com").await;
    open_sign_up(&api, &ann, json!([])).await;
    let (_, this) = signed_in(&api, &ann, "rita@example.com").await;
    let other = run_login(&api, &ann.pid, "rita@example.com", RUN_PASSWORD)
        .await
        .str("token");
    let wrong = put(
        &api,
        "/v1/run/me/password",
        Some(&this),
        json!({"current_password": "not it at all", "new_password": "my next passphrase"}),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    assert_eq!(api.get("/v1/run/me", &other).await.status, StatusCode::OK);
    let changed = put(
        &api,
        "/v1/run/me/password",
        Some(&this),
        json!({"current_password": RUN_PASSWORD, "new_password": "my next passphrase"}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);
    assert_eq!(
        api.get("/v1/run/me", &this).await.status,
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        api.get("/v1/run/me", &other).await.status,
        StatusCode::UNAUTHORIZED,
        "the others end"
    );
    assert_eq!(
        run_login(&api, &ann.pid, "rita@example.com", RUN_PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        run_login(&api, &ann.pid, "rita@example.com", "my next passphrase")
            .await
            .status,
        StatusCode::OK
    );
}

async fn password_reset_by_email_works_once_on_its_own_profile(api: Api) {
    let ann = api.account("ann@example.com").await;
    let bob = api.account("bob@example.com").await;
    open_sign_up(&api, &ann, json!([])).await;
    let (_, session) = signed_in(&api, &ann, "rita@example.com").await;
    let post = Post::new(&api).await;
    let reset = |email: &'static str| {
        let path = format!("/v1/profiles/{}/run/password-reset", ann.pid);
        let api = &api;
        async move { api.post(&path, None, json!({"email": email})).await }
    };
    let known = reset("rita@example.com").await;
    let unknown = reset("nobody@example.com").await;
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!((unknown.status, &unknown.json), (known.status, &known.json));
    post.deliver(&api).await;
    post.deliver(&api).await;
    let mail = post.to("rita@example.com");
    assert_eq!(
        mail.len(),
        1,
        "one e-mail, however often the changes are delivered"
    );
    assert!(post.to("nobody@example.com").is_empty());
    let secret = reset_secret(&mail[0].text);

    // Another profile's confirm route does not take the link.
    let elsewhere = api
        .post(
            &format!("/v1/profiles/{}/run/password-reset/confirm", bob.pid),
            None,
            json!({"token": secret, "password": "a reset passphrase"}),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::UNAUTHORIZED);
    // Nor does the accounts' one.
    let as_account = api
        .post(
            "/v1/password-reset/confirm",
            None,
            json!({"token": secret, "password": "a reset passphrase"}),
        )
        .await;
    assert_eq!(as_account.status, StatusCode::UNAUTHORIZED);

    let confirm = format!("/v1/profiles/{}/run/password-reset/confirm", ann.pid);
    let done = api
        .post(
            &confirm,
            None,
            json!({"token": secret, "password": "a reset passphrase"}),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text);
    assert_eq!(
        api.get("/v1/run/me", &session).await.status,
        StatusCode::UNAUTHORIZED
    );
    let twice = api
        .post(
            &confirm,
            None,
            json!({"token": secret, "password": "yet another passphrase"}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        run_login(&api, &ann.pid, "rita@example.com", "a reset passphrase")
            .await
            .status,
        StatusCode::OK
    );
}

/// Creates `n` run users on `owner`'s profile, one after the other; every 50th carries
/// `vip=yes`, names `user-000`…, every 10th also named `Zed-…`.
async fn crowd(api: &Api, owner: &Account, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let name = if i % 10 == 3 {
            format!("Zed-{i:03}")
        } else {
            format!("user-{i:03}")
        };
        let mut tags = vec![json!({"key": "n", "value": i.to_string()})];
        if i % 50 == 7 {
            tags.push(json!({"key": "vip", "value": "yes"}));
        }
        let reply = create(
            api,
            owner,
            json!({"email": format!("u{i:03}@example.com"), "name": name, "tags": tags, "active": i % 4 != 0}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        ids.push(reply.str("id"));
    }
    ids
}

/// Every page of the list for `query`, and how many pages it took.
async fn all_pages(api: &Api, owner: &Account, query: &str) -> (Vec<Value>, usize) {
    let base = format!("/v1/profiles/{}/run/users?{query}", owner.pid);
    let (mut users, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let path = match &cursor {
            Some(cursor) => format!("{base}&cursor={cursor}"),
            None => base.clone(),
        };
        let page = api.get(&path, &owner.token).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
        pages += 1;
        users.extend(page.json["users"].as_array().cloned().unwrap_or_default());
        match page.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (users, pages),
        }
        assert!(pages < 100, "the pages never end");
    }
}

fn ids(users: &[Value]) -> Vec<String> {
    users
        .iter()
        .map(|user| user["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn paging_filters_and_orders(api: Api) {
    let ann = api.account("ann@example.com").await;
    let created = crowd(&api, &ann, 250).await;

    let (users, pages) = all_pages(&api, &ann, "limit=20").await;
    assert_eq!(pages, 13);
    assert_eq!(ids(&users), created, "each user once, in creation order");
    let (newest_first, _) = all_pages(&api, &ann, "limit=20&order=-created_at").await;
    let mut reversed = created.clone();
    reversed.reverse();
    assert_eq!(ids(&newest_first), reversed);

    let (vips, vip_pages) = all_pages(&api, &ann, "tag.vip=yes&limit=20").await;
    assert_eq!(vip_pages, 1);
    let expected: Vec<String> = (0..250)
        .filter(|i| i % 50 == 7)
        .map(|i| created[i].clone())
        .collect();
    assert_eq!(ids(&vips), expected, "5 of 250, in creation order");
    let (two_tags, _) = all_pages(&api, &ann, "tag.vip=yes&tag.n=57").await;
    assert_eq!(ids(&two_tags), vec![created[57].clone()], "tags are ANDed");
    let (none, _) = all_pages(&api, &ann, "tag.vip=no").await;
    assert!(none.is_empty());

    let (zeds, _) = all_pages(&api, &ann, "q=zED&limit=7").await;
    assert_eq!(zeds.len(), 25);
    assert!(
        zeds.iter()
            .all(|u| u["name"].as_str().is_some_and(|n| n.starts_with("Zed-")))
    );
    let names: Vec<&str> = zeds.iter().filter_map(|u| u["name"].as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "q lists in the order of the matching name");
    let (by_email, _) = all_pages(&api, &ann, "q=u24").await;
    assert_eq!(
        ids(&by_email),
        created[240..250].to_vec(),
        "a prefix of the e-mail matches too"
    );
    let (both, _) = all_pages(&api, &ann, "q=u").await;
    assert_eq!(
        both.len(),
        250,
        "a user whose name and e-mail both match is listed once"
    );

    let (inactive, _) = all_pages(&api, &ann, "active=false&limit=50").await;
    let expected: Vec<String> = (0..250)
        .filter(|i| i % 4 == 0)
        .map(|i| created[i].clone())
        .collect();
    assert_eq!(ids(&inactive), expected);
    let (inactive_vips, _) = all_pages(&api, &ann, "active=true&tag.vip=yes").await;
    assert_eq!(
        inactive_vips.len(),
        5,
        "7, 57, … are all active (i % 4 != 0)"
    );

    let (by_name, _) = all_pages(&api, &ann, "order=name&limit=100").await;
    let names: Vec<String> = by_name
        .iter()
        .filter_map(|u| u["name"].as_str())
        .map(str::to_lowercase)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), 250);
    let (by_email, _) = all_pages(&api, &ann, "order=email&limit=100").await;
    let emails: Vec<&str> = by_email
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    let mut sorted = emails.clone();
    sorted.sort();
    assert_eq!(emails, sorted);

    // A renamed user and a retagged one move in their indexes at once.
    let renamed = api
        .patch(
            &user_path(&ann, &created[0]),
            &ann.token,
            json!({"name": "Zed the First", "tags": [{"key": "vip", "value": "yes"}]}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let (zeds, _) = all_pages(&api, &ann, "q=zed").await;
    assert_eq!(zeds.len(), 26);
    let (vips, _) = all_pages(&api, &ann, "tag.vip=yes").await;
    assert_eq!(vips.len(), 6);
    let (old_tag, _) = all_pages(&api, &ann, "tag.n=0").await;
    assert!(old_tag.is_empty(), "a removed tag no longer finds the user");
}

async fn cursors_are_bound_to_the_profile_and_the_query(api: Api) {
    let ann = api.account("ann@example.com").await;
    let bob = api.account("bob@example.com").await;
    crowd(&api, &ann, 5).await;
    crowd(&api, &bob, 5).await;
    let page = api
        .get(
            &format!("/v1/profiles/{}/run/users?limit=2", ann.pid),
            &ann.token,
        )
        .await;
    let cursor = page.str("next_cursor");
    let bob_page = api
        .get(
            &format!("/v1/profiles/{}/run/users?limit=2", bob.pid),
            &bob.token,
        )
        .await;
    let bob_cursor = bob_page.str("next_cursor");
    let list = |pid: &str, query: String, token: &str| {
        let path = format!("/v1/profiles/{pid}/run/users?{query}");
        let token = token.to_owned();
        let api = &api;
        async move { api.get(&path, &token).await }
    };
    let fine = list(&ann.pid, format!("limit=2&cursor={cursor}"), &ann.token).await;
    assert_eq!(fine.status, StatusCode::OK);
    for (query, what) in [
        (
            format!("limit=2&cursor={bob_cursor}"),
            "another profile's cursor",
        ),
        (
            format!("limit=2&order=name&cursor={cursor}"),
            "another order's cursor",
        ),
        (
            format!("limit=2&q=u&cursor={cursor}"),
            "another filter's cursor",
        ),
        (format!("limit=2&cursor=x{cursor}"), "an edited cursor"),
        ("limit=2&cursor=garbage".to_owned(), "not a cursor"),
    ] {
        let reply = list(&ann.pid, query, &ann.token).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            reply.text
        );
        assert_eq!(reply.problem(), "invalid-cursor", "{what}");
    }
    for query in [
        "limit=0",
        "limit=101",
        "limit=x",
        "order=age",
        "active=maybe",
        "color=red",
        "tag.=x",
    ] {
        let reply = list(&ann.pid, query.to_owned(), &ann.token).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            reply.text
        );
    }
}

async fn the_gauge_holds_under_concurrent_sign_ups(api: Api) {
    let ann = api.account("ann@example.com").await;
    open_sign_up(&api, &ann, json!([])).await;
    let limits = put(
        &api,
        &format!("/v1/profiles/{}/limits", ann.pid),
        Some(&ann.token),
        json!({"run_users": 5}),
    )
    .await;
    assert_eq!(limits.status, StatusCode::OK, "{}", limits.text);
    let existing = create(
        &api,
        &ann,
        json!({"email": "first@example.com", "name": "First"}),
    )
    .await;
    assert_eq!(existing.status, StatusCode::CREATED);
    let api = Arc::new(api);
    let mut racers = JoinSet::new();
    for n in 0..4 + 20 {
        let api = api.clone();
        let pid = ann.pid.clone();
        racers.spawn(
            async move { sign_up(&api, &pid, &unique(&format!("racer{n}")), json!({})).await },
        );
    }
    let (mut created, mut refused) = (0, 0);
    while let Some(reply) = racers.join_next().await {
        let reply = reply.expect("a racer");
        match reply.status {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(reply.problem(), "limit-reached", "{}", reply.text);
                assert_eq!(reply.json["service"], "run_users");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert_eq!((created, refused), (4, 20), "exactly the free places");
    let items = api
        .snapshot()
        .await
        .iter()
        .filter(|item| {
            item["SK"]
                .as_str()
                .is_some_and(|sk| sk.starts_with("RUNUSER#"))
        })
        .count();
    assert_eq!(items, 5);
    let usage = api
        .get(&format!("/v1/profiles/{}/usage", ann.pid), &ann.token)
        .await;
    assert_eq!(
        usage.json["services"]["run_users"],
        json!({"used": 5, "limit": 5, "metering": "gauge"})
    );
}

async fn bounds_are_refused_and_write_nothing(api: Api) {
    let ann = api.account("ann@example.com").await;
    let tags = |n: usize| -> Value {
        (0..n)
            .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
            .collect()
    };
    let base = || json!({"email": "rita@example.com", "name": "Rita"});
    let with = |field: &str, value: Value| {
        let mut body = base();
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("tags", tags(51)), "tags"),
        (
            with(
                "tags",
                json!([{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]),
            ),
            "tags[1].key",
        ),
        (
            with("tags", json!([{"key": "", "value": "1"}])),
            "tags[0].key",
        ),
        (
            with("tags", json!([{"key": "a", "value": "x".repeat(257)}])),
            "tags[0].value",
        ),
        (
            with("tags", json!([{"key": "k".repeat(65), "value": "1"}])),
            "tags[0].key",
        ),
        (with("name", json!("n".repeat(101))), "name"),
        (with("name", json!("Rita\u{202e}")), "name"),
        (with("company", json!("c".repeat(101))), "company"),
        (with("timezone", json!("t".repeat(65))), "timezone"),
        (with("language", json!("l".repeat(36))), "language"),
        (with("phone", json!("call me maybe")), "phone"),
        (with("email", json!("not an address")), "email"),
        (with("password", json!("short")), "password"),
    ] {
        let reply = api
            .assert_writes_nothing("an out-of-bounds run user", || {
                create(&api, &ann, body.clone())
            })
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            reply.text
        );
        assert_eq!(reply.json["field"], field, "{}", reply.text);
    }
    let unknown = create(&api, &ann, with("favourite", json!("blue"))).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fifty = create(&api, &ann, with("tags", tags(50))).await;
    assert_eq!(
        fifty.status,
        StatusCode::CREATED,
        "50 tags are fine: {}",
        fifty.text
    );
    let path = user_path(&ann, &fifty.str("id"));
    let too_many = api
        .assert_writes_nothing("51 tags by PATCH", || {
            api.patch(&path, &ann.token, json!({"tags": tags(51)}))
        })
        .await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Replacing 50 tags by 50 others: more index changes than one transaction holds.
    let others: Value = (0..50)
        .map(|i| json!({"key": format!("o{i}"), "value": "w"}))
        .collect();
    let replaced = api.patch(&path, &ann.token, json!({"tags": others})).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    let (found, _) = all_pages(&api, &ann, "tag.k3=v").await;
    assert!(found.is_empty());
    let (found, _) = all_pages(&api, &ann, "tag.o3=w").await;
    assert_eq!(found.len(), 1);
    let entries = api
        .snapshot()
        .await
        .iter()
        .filter(|item| {
            item["SK"]
                .as_str()
                .is_some_and(|sk| sk.starts_with("RUNTAG#"))
        })
        .count();
    assert_eq!(entries, 50, "no stale tag entry is left behind");
}

async fn run_user_routes_count_api_requests(api: Api) {
    let ann = api.account("ann@example.com").await;

    let before = used(&api, &ann, "api_requests")
        .await
        .as_i64()
        .unwrap_or(-1);
    open_sign_up(&api, &ann, json!([])).await; // 1
    let (_, token) = signed_in(&api, &ann, "rita@example.com").await; // 2, 3
    api.get("/v1/run/me", &token).await; // 4
    api.get(&format!("/v1/profiles/{}/run/settings", ann.pid), &token)
        .await; // 5
    api.get(&format!("/v1/profiles/{}/run/users", ann.pid), &ann.token)
        .await; // 6
    assert_eq!(
        used(&api, &ann, "api_requests")
            .await
            .as_i64()
            .unwrap_or(-1)
            - before,
        6,
        "every run-user route counts once; usage does not"
    );
    // Past the limit, the application refuses and the management side still answers.
    let limits = put(
        &api,
        &format!("/v1/profiles/{}/limits", ann.pid),
        Some(&ann.token),
        json!({"api_requests": 6}),
    )
    .await;
    assert_eq!(limits.status, StatusCode::OK, "{}", limits.text);
    let refused = api.get("/v1/run/me", &token).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text
    );
    assert_eq!(refused.problem(), "limit-reached");
    let login = run_login(&api, &ann.pid, "rita@example.com", RUN_PASSWORD).await;
    assert_eq!(login.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        api.get(&format!("/v1/profiles/{}", ann.pid), &ann.token)
            .await
            .status,
        StatusCode::OK
    );
}

/// Stores a run user's session for `uid` of `pid` under `secret` (as `open_session` would).
async fn stored_session(api: &Api, pid: uuid::Uuid, uid: uuid::Uuid, secret: &str) {
    use shared::domain::records::{RunSessionRecord, TokenRecord};
    let user = shared::domain::run_users::get(&api.app, pid, uid)
        .await
        .expect("the user");
    let now = api.app.now();
    let expires_at = now + chrono::Duration::days(1);
    let record = TokenRecord::RunSession(RunSessionRecord {
        pid,
        uid,
        version: user.session_version,
        created_at: now,
        expires_at,
        ttl: expires_at.timestamp(),
    });
    let key = shared::keys::token(&secrets::digest(secret));
    let item = shared::keys::to_item(&key, &record).expect("an item");
    api.app.table.put(item, None).await.expect("stored");
}

/// A run user's session claims its profile and user so they are read with it; the stored
/// session decides who the caller is. A session whose claim names another user acts as its
/// own user, and one without a claim (opened before sessions carried one) still works.
async fn a_sessions_claim_is_a_hint_and_no_claim_still_works(api: Api) {
    let ann = api.account("ann@example.com").await;
    open_sign_up(&api, &ann, json!([])).await;
    let (rita, _) = signed_in(&api, &ann, "rita@example.com").await;
    let (sam, _) = signed_in(&api, &ann, "sam@example.com").await;
    let id = |text: &str| uuid::Uuid::parse_str(text).expect("an id");
    let pid = id(&ann.pid);
    let lying =
        secrets::generate_claiming(SecretKind::RunUser, &[pid, id(&sam)]).expect("a secret");
    let unclaimed = secrets::generate(SecretKind::RunUser).expect("a secret");
    let claim = |secret: &str| secrets::pair_claim(secret, SecretKind::RunUser);
    assert_eq!(claim(&lying), Some((pid, id(&sam))));
    assert_eq!(claim(&unclaimed), None);
    for secret in [&lying, &unclaimed] {
        stored_session(&api, pid, id(&rita), secret).await;
        let me = api.get("/v1/run/me", secret).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        assert_eq!(me.str("id"), rita);
        let renamed = api
            .patch("/v1/run/me", secret, json!({"name": "Rita"}))
            .await;
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
        assert_eq!(renamed.str("id"), rita);
    }
    let sam_now = api.get(&user_path(&ann, &sam), &ann.token).await;
    assert_eq!(sam_now.status, StatusCode::OK, "{}", sam_now.text);
    assert_ne!(
        sam_now.str("name"),
        "Rita",
        "the claimed user was not touched"
    );
    // A claim of a user that is gone, on a session of one that is gone: refused.
    let removed = api.delete(&user_path(&ann, &rita), &ann.token, None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    assert_eq!(
        api.get("/v1/run/me", &lying).await.status,
        StatusCode::UNAUTHORIZED
    );
}
