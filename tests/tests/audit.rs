//! The audit log (DESIGN.md "Audit log"), on both adapters: every audited change leaves one
//! entry (actor, action, target, request id, changed field names), a change that fails leaves
//! none, an entry never lands without its change, and the two lists filter and page.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::store::Table;
use tenantry_tests::api::{Api, PASSWORD, Reply};
use tenantry_tests::failing::FailingTable;
use tenantry_tests::mailbox::{invitation_secret, reset_secret, verification_secret};
use tenantry_tests::post::Post;
use tenantry_tests::world::{join, person};

tenantry_tests::on_both_adapters!(
    profile_changes_are_recorded_with_actor_request_and_fields,
    team_changes_are_recorded,
    application_changes_are_recorded,
    account_security_events_are_recorded,
    changes_by_link_and_by_run_users_are_recorded,
    a_failed_change_leaves_no_entry_and_a_failed_entry_no_change,
    lists_filter_page_and_refuse_foreign_cursors,
    entries_never_hold_a_secret,
);

/// The profile's entries, newest first.
async fn profile_log(api: &Api, pid: &str, token: &str) -> Vec<Value> {
    let reply = api.get(&format!("/v1/profiles/{pid}/audit"), token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["entries"].as_array().expect("entries").clone()
}

async fn account_log(api: &Api, token: &str) -> Vec<Value> {
    let reply = api.get("/v1/account/audit", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["entries"].as_array().expect("entries").clone()
}

/// How many entries a list with these filters answers (one page).
async fn listed(api: &Api, path: &str, token: &str) -> usize {
    let reply = api.get(path, token).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
    reply.json["entries"].as_array().expect("entries").len()
}

fn actions(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| entry["action"].as_str().expect("an action").to_owned())
        .collect()
}

fn request_id(reply: &Reply) -> String {
    reply
        .headers
        .get("x-request-id")
        .expect("an X-Request-Id")
        .to_str()
        .expect("text")
        .to_owned()
}

async fn put(api: &Api, path: &str, token: &str, body: Value) -> Reply {
    api.call(Method::PUT, path, Some(token), Some(body)).await
}

async fn profile_changes_are_recorded_with_actor_request_and_fields(api: Api) {
    let ann = api.account("ann@example.com").await;
    let base = format!("/v1/profiles/{}", ann.pid);
    let renamed = api
        .patch(&base, &ann.token, json!({"name": "Renamed"}))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let log = profile_log(&api, &ann.pid, &ann.token).await;
    assert_eq!(actions(&log), ["profile.updated"], "{log:?}");
    let entry = &log[0];
    assert_eq!(entry["actor"], json!({"kind": "account", "id": ann.aid}));
    assert_eq!(entry["target"], json!({"type": "profile", "id": ann.pid}));
    assert_eq!(entry["fields"], json!(["name"]));
    assert_eq!(entry["request_id"], request_id(&renamed));

    let limits = put(
        &api,
        &format!("{base}/limits"),
        &ann.token,
        json!({"tokens": 5}),
    )
    .await;
    assert_eq!(limits.status, StatusCode::OK, "{}", limits.text);
    let issued = api
        .post(
            &format!("{base}/tokens"),
            Some(&ann.token),
            json!({"name": "ci", "permission": "full", "expires_in": "1 day", "password": PASSWORD}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    let (tid, secret) = (issued.str("id"), issued.str("token"));
    // A change made with the token names the token as its actor.
    let by_token = api
        .patch(
            &base,
            &secret,
            json!({"logo_url": "https://example.com/l.png"}),
        )
        .await;
    assert_eq!(by_token.status, StatusCode::OK, "{}", by_token.text);
    let revoked = api
        .delete(&format!("{base}/tokens/{tid}"), &ann.token, None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    let created = api
        .post("/v1/profiles", Some(&ann.token), json!({"name": "Second"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);

    let log = profile_log(&api, &ann.pid, &ann.token).await;
    assert_eq!(
        actions(&log),
        [
            "token.revoked",
            "profile.updated",
            "token.created",
            "limits.updated",
            "profile.updated"
        ]
    );
    assert_eq!(log[1]["actor"], json!({"kind": "token", "id": tid}));
    assert_eq!(log[1]["fields"], json!(["logo_url"]));
    assert_eq!(log[2]["target"], json!({"type": "token", "id": tid}));
    assert_eq!(log[3]["fields"], json!(["tokens"]));
    let second = created.json["id"].as_str().expect("an id");
    assert_eq!(
        actions(&profile_log(&api, second, &ann.token).await),
        ["profile.created"]
    );

    // Deleting a profile takes its log with it: the deletion is in the owner's log.
    let gone = api
        .delete(
            &format!("/v1/profiles/{second}"),
            &ann.token,
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    let mine = account_log(&api, &ann.token).await;
    assert_eq!(mine[0]["action"], "profile.deleted");
    assert_eq!(mine[0]["target"], json!({"type": "profile", "id": second}));
}

async fn team_changes_are_recorded(api: Api) {
    let ann = api.account("ann@example.com").await;
    let (bob, _) = person(&api, "bob").await;
    let (cy, _) = person(&api, "cy").await;
    let base = format!("/v1/profiles/{}", ann.pid);
    let invite = |email: String| {
        let api = &api;
        let (base, token) = (base.clone(), ann.token.clone());
        async move {
            let reply = api
                .post(
                    &format!("{base}/team"),
                    Some(&token),
                    json!({"email": email, "role": "member"}),
                )
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
            reply.str("id")
        }
    };
    let to_bob = invite(bob.email.clone()).await;
    let resent = api
        .post(
            &format!("{base}/invitations/{to_bob}/resend"),
            Some(&ann.token),
            json!({}),
        )
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.text);
    let accepted = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{to_bob}/accept"),
            Some(&bob.session),
            None,
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    let to_cy = invite(cy.email.clone()).await;
    let declined = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{to_cy}/decline"),
            Some(&cy.session),
            None,
        )
        .await;
    assert!(declined.status.is_success(), "{}", declined.text);
    let to_cy = invite(cy.email.clone()).await;
    let revoked = api
        .delete(&format!("{base}/invitations/{to_cy}"), &ann.token, None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    let promoted = api
        .patch(
            &format!("{base}/team/{}", bob.aid),
            &ann.token,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text);
    let removed = api
        .delete(&format!("{base}/team/{}", bob.aid), &ann.token, None)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);

    let log = profile_log(&api, &ann.pid, &ann.token).await;
    assert_eq!(
        actions(&log),
        [
            "member.removed",
            "member.role_changed",
            "invitation.revoked",
            "invitation.created",
            "invitation.declined",
            "invitation.created",
            "invitation.accepted",
            "invitation.resent",
            "invitation.created",
        ]
    );
    // The invitee answers for itself.
    assert_eq!(
        log[6]["actor"],
        json!({"kind": "account", "id": bob.aid.to_string()})
    );
    assert_eq!(
        log[4]["actor"],
        json!({"kind": "account", "id": cy.aid.to_string()})
    );
    assert_eq!(
        log[0]["target"],
        json!({"type": "member", "id": bob.aid.to_string()})
    );
    assert_eq!(log[1]["fields"], json!(["role"]));
}

async fn application_changes_are_recorded(api: Api) {
    let ann = api.account("ann@example.com").await;
    let (mo, _) = person(&api, "mo").await;
    join(
        &api,
        ann.pid.parse().expect("a pid"),
        &mo,
        shared::domain::Role::Member,
    )
    .await;
    let base = format!("/v1/profiles/{}", ann.pid);
    let settings = put(
        &api,
        &format!("{base}/run/settings"),
        &ann.token,
        json!({"signup_enabled": true, "fields": []}),
    )
    .await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.text);
    let types = put(
        &api,
        &format!("{base}/resource-types"),
        &ann.token,
        json!({"device": ["access", "edit"]}),
    )
    .await;
    assert_eq!(types.status, StatusCode::OK, "{}", types.text);
    // A member's changes on the application side are recorded as the member's.
    let user = api
        .post(
            &format!("{base}/run/users"),
            Some(&mo.session),
            json!({"email": "rita@example.com", "name": "Rita"}),
        )
        .await;
    assert_eq!(user.status, StatusCode::CREATED, "{}", user.text);
    let uid = user.str("id");
    let user_path = format!("{base}/run/users/{uid}");
    let edited = api
        .patch(
            &user_path,
            &mo.session,
            json!({"name": "Rita B", "active": false}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let password = put(
        &api,
        &format!("{user_path}/password"),
        &mo.session,
        json!({"password": "a brand new passphrase"}),
    )
    .await;
    assert_eq!(password.status, StatusCode::NO_CONTENT, "{}", password.text);
    let policy = api
        .post(
            &format!("{base}/policies"),
            Some(&mo.session),
            json!({"name": "All", "targets": [{"any_run_user": true}], "permissions": [{"effect": "allow", "actions": ["access"], "resources": [{"type": "device"}]}]}),
        )
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.text);
    let policy_path = format!("{base}/policies/{}", policy.str("id"));
    let renamed = api
        .patch(&policy_path, &mo.session, json!({"active": false}))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let dropped = api.delete(&policy_path, &mo.session, None).await;
    assert_eq!(dropped.status, StatusCode::NO_CONTENT, "{}", dropped.text);
    let deleted = api.delete(&user_path, &mo.session, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let signed_up = api
        .post(
            &format!("{base}/run/signup"),
            None,
            json!({"email": "sam@example.com", "name": "Sam", "password": "a long run passphrase"}),
        )
        .await;
    assert_eq!(signed_up.status, StatusCode::CREATED, "{}", signed_up.text);

    let log = profile_log(&api, &ann.pid, &ann.token).await;
    assert_eq!(
        actions(&log),
        [
            "run_user.created",
            "run_user.deleted",
            "policy.deleted",
            "policy.updated",
            "policy.created",
            "run_user.password_set",
            "run_user.updated",
            "run_user.created",
            "resource_types.updated",
            "settings.updated",
        ]
    );
    let mo_actor = json!({"kind": "account", "id": mo.aid.to_string()});
    for entry in &log[1..8] {
        assert_eq!(entry["actor"], mo_actor, "{entry}");
    }
    // A sign-up is the new user's own doing.
    assert_eq!(
        log[0]["actor"],
        json!({"kind": "run_user", "id": signed_up.str("id")})
    );
    assert_eq!(log[6]["fields"], json!(["name", "active"]));
    assert_eq!(log[3]["fields"], json!(["active"]));
    // A member may not read the profile's log.
    let refused = api.get(&format!("{base}/audit"), &mo.session).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
}

async fn account_security_events_are_recorded(api: Api) {
    let ann = api.account("ann@example.com").await;
    let wrong = api
        .post(
            "/v1/login",
            None,
            json!({"email": ann.email, "password": "not the password"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    // An unknown e-mail has no log to write to.
    let unknown = api
        .post(
            "/v1/login",
            None,
            json!({"email": "nobody@example.com", "password": "whatever it is"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED, "{}", unknown.text);
    let second = api.login(&ann.email, PASSWORD).await;
    let out = api
        .call(Method::POST, "/v1/logout", Some(&second), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text);
    let changed = put(
        &api,
        "/v1/account/password",
        &ann.token,
        json!({"current_password": PASSWORD, "new_password": "another long passphrase"}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);

    let log = account_log(&api, &ann.token).await;
    assert_eq!(
        actions(&log),
        [
            "password.changed",
            "session.revoked",
            "login.succeeded",
            "login.failed",
            "login.succeeded"
        ]
    );
    assert_eq!(log[0]["fields"], json!(["password"]));
    assert_eq!(log[3]["request_id"], request_id(&wrong));
    for entry in &log {
        assert_eq!(
            entry["actor"],
            json!({"kind": "account", "id": ann.aid}),
            "{entry}"
        );
    }
    let entries = api
        .snapshot()
        .await
        .into_iter()
        .filter(|item| {
            item["SK"]
                .as_str()
                .is_some_and(|sk| sk.starts_with("AUDIT#"))
        })
        .count();
    // The sign-up's login and the ones above, nothing for the unknown e-mail.
    assert_eq!(entries, 5);
}

/// Changes made by following an e-mailed link (verification, password reset, accepting an
/// invitation) are recorded as the link's account; a run user's own changes (its record, its
/// password, a reset) as that run user.
async fn changes_by_link_and_by_run_users_are_recorded(api: Api) {
    let post = Post::new(&api).await;
    let vic = api.unverified_account("vic@example.com").await;
    let ann = api.account("ann@example.com").await;
    let (bob, _) = person(&api, "bob").await;
    let base = format!("/v1/profiles/{}", ann.pid);
    let invited = api
        .post(
            &format!("{base}/team"),
            Some(&ann.token),
            json!({"email": bob.email, "role": "member"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
    let reset = api
        .post("/v1/password-reset", None, json!({"email": ann.email}))
        .await;
    assert_eq!(reset.status, StatusCode::ACCEPTED, "{}", reset.text);
    post.deliver(&api).await;

    let text = |to: &str| {
        let mail = post.to(to);
        assert_eq!(mail.len(), 1, "one e-mail to {to}");
        mail[0].text.clone()
    };
    let verified = api
        .post(
            "/v1/accounts/verify",
            None,
            json!({"token": verification_secret(&text(&vic.email))}),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    let log = account_log(&api, &vic.token).await;
    assert_eq!(actions(&log)[0], "email.verified");
    assert_eq!(log[0]["actor"], json!({"kind": "account", "id": vic.aid}));
    assert_eq!(log[0]["request_id"], request_id(&verified));

    let new_password = "a password set by the link";
    let confirmed = api
        .post(
            "/v1/password-reset/confirm",
            None,
            json!({"token": reset_secret(&text(&ann.email)), "password": new_password}),
        )
        .await;
    assert_eq!(
        confirmed.status,
        StatusCode::NO_CONTENT,
        "{}",
        confirmed.text
    );
    let owner = api.login(&ann.email, new_password).await;
    let log = account_log(&api, &owner).await;
    assert_eq!(actions(&log)[..2], ["login.succeeded", "password.reset"]);
    assert_eq!(log[1]["actor"], json!({"kind": "account", "id": ann.aid}));
    assert_eq!(log[1]["fields"], json!(["password"]));

    let iid = invited.str("id");
    let accepted = api
        .post(
            &format!("/v1/invitations/{iid}/accept"),
            None,
            json!({"token": invitation_secret(&text(&bob.email))}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);

    // A run user's own changes.
    let settings = put(
        &api,
        &format!("{base}/run/settings"),
        &owner,
        json!({"signup_enabled": true, "fields": []}),
    )
    .await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.text);
    let rita = "rita@example.com";
    let first = "rita's first passphrase";
    let signed_up = api
        .post(
            &format!("{base}/run/signup"),
            None,
            json!({"email": rita, "name": "Rita", "password": first}),
        )
        .await;
    assert_eq!(signed_up.status, StatusCode::CREATED, "{}", signed_up.text);
    let uid = signed_up.str("id");
    let login = api
        .post(
            &format!("{base}/run/login"),
            None,
            json!({"email": rita, "password": first}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let session = login.str("token");
    let edited = api
        .patch(
            "/v1/run/me",
            &session,
            json!({"name": "Rita R", "language": "de"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let changed = put(
        &api,
        "/v1/run/me/password",
        &session,
        json!({"current_password": first, "new_password": "rita's second passphrase"}),
    )
    .await;
    assert!(changed.status.is_success(), "{}", changed.text);
    let asked = api
        .post(
            &format!("{base}/run/password-reset"),
            None,
            json!({"email": rita}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.text);
    post.deliver(&api).await;
    let done = api
        .post(
            &format!("{base}/run/password-reset/confirm"),
            None,
            json!({"token": reset_secret(&text(rita)), "password": "rita's third passphrase"}),
        )
        .await;
    assert!(done.status.is_success(), "{}", done.text);

    let log = profile_log(&api, &ann.pid, &owner).await;
    assert_eq!(
        actions(&log),
        [
            "run_user.password_set",
            "run_user.password_set",
            "run_user.updated",
            "run_user.created",
            "settings.updated",
            "invitation.accepted",
            "invitation.created",
        ]
    );
    let rita_actor = json!({"kind": "run_user", "id": uid});
    for entry in &log[..4] {
        assert_eq!(entry["actor"], rita_actor, "{entry}");
        assert_eq!(
            entry["target"],
            json!({"type": "run_user", "id": uid}),
            "{entry}"
        );
    }
    assert_eq!(log[2]["fields"], json!(["name", "language"]));
    assert_eq!(log[0]["request_id"], request_id(&done));
    assert_eq!(
        log[5]["actor"],
        json!({"kind": "account", "id": bob.aid.to_string()})
    );
}

/// The entry and its change are one transaction: when the change's write fails there is no
/// entry, and when the entry's write fails there is no change.
async fn a_failed_change_leaves_no_entry_and_a_failed_entry_no_change(table: Arc<dyn Table>) {
    let failing = Arc::new(FailingTable::new(table));
    let api = Api::new(failing.clone());
    let ann = api.account("ann@example.com").await;
    let base = format!("/v1/profiles/{}", ann.pid);
    let pid: uuid::Uuid = ann.pid.parse().expect("a pid");
    let entries = |items: Vec<shared::store::Item>| {
        items
            .into_iter()
            .filter(|item| {
                item["PK"] == format!("PROFILE#{pid}")
                    && item["SK"]
                        .as_str()
                        .is_some_and(|sk| sk.starts_with("AUDIT#"))
            })
            .count()
    };

    let profile_key = shared::keys::profile(pid);
    failing.fail_writes_to(move |key| *key == profile_key);
    let failed = api.patch(&base, &ann.token, json!({"name": "Never"})).await;
    assert!(failed.status.is_server_error(), "{}", failed.text);
    failing.heal();
    assert_eq!(entries(api.snapshot().await), 0, "no change, no entry");

    let (bob, _) = person(&api, "bob").await;
    let types = put(
        &api,
        &format!("{base}/resource-types"),
        &ann.token,
        json!({"device": ["access", "edit"]}),
    )
    .await;
    assert_eq!(types.status, StatusCode::OK, "{}", types.text);
    let recorded = entries(api.snapshot().await);
    failing.fail_writes_to(|key| key.sk.starts_with("AUDIT#"));
    for (method, path, body) in [
        (Method::PATCH, base.clone(), json!({"name": "Never"})),
        (
            Method::POST,
            "/v1/profiles".into(),
            json!({"name": "Never"}),
        ),
        (
            Method::POST,
            format!("{base}/tokens"),
            json!({"name": "ci", "permission": "read", "expires_in": "1 day", "password": PASSWORD}),
        ),
        (
            Method::POST,
            format!("{base}/team"),
            json!({"email": bob.email, "role": "member"}),
        ),
        (
            Method::PUT,
            format!("{base}/resource-types"),
            json!({"device": ["access"]}),
        ),
        (
            Method::POST,
            format!("{base}/policies"),
            json!({"name": "All", "targets": [{"any_run_user": true}], "permissions": [{"effect": "allow", "actions": ["access"], "resources": [{"type": "device"}]}]}),
        ),
        (
            Method::PUT,
            "/v1/account/password".into(),
            json!({"current_password": PASSWORD, "new_password": "another long passphrase"}),
        ),
        (Method::POST, "/v1/logout".into(), json!({})),
        (Method::PUT, format!("{base}/limits"), json!({"tokens": 7})),
        (
            Method::POST,
            format!("{base}/run/users"),
            json!({"email": "x@example.com", "name": "X"}),
        ),
        (
            Method::PUT,
            format!("{base}/run/settings"),
            json!({"signup_enabled": true, "fields": []}),
        ),
    ] {
        let before = api.data().await;
        let failed = api.call(method, &path, Some(&ann.token), Some(body)).await;
        assert!(failed.status.is_server_error(), "{path}: {}", failed.text);
        assert_eq!(api.data().await, before, "{path}: no entry, no change");
    }
    let refused = api
        .post(
            "/v1/login",
            None,
            json!({"email": ann.email, "password": PASSWORD}),
        )
        .await;
    assert!(refused.status.is_server_error(), "{}", refused.text);
    failing.heal();
    let profile = api.get(&base, &ann.token).await;
    assert_ne!(profile.json["name"], "Never");
    assert_eq!(entries(api.snapshot().await), recorded);
}

async fn lists_filter_page_and_refuse_foreign_cursors(api: Api) {
    let ann = api.account("ann@example.com").await;
    let base = format!("/v1/profiles/{}", ann.pid);
    let before = api.app.now();
    for n in 0..5 {
        let renamed = api
            .patch(&base, &ann.token, json!({"name": format!("Name {n}")}))
            .await;
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    }
    let limits = put(
        &api,
        &format!("{base}/limits"),
        &ann.token,
        json!({"tokens": 5}),
    )
    .await;
    assert_eq!(limits.status, StatusCode::OK, "{}", limits.text);

    // Pages of two, newest first, until the last.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("{base}/audit?limit=2&action=profile.updated&cursor={cursor}"),
            None => format!("{base}/audit?limit=2&action=profile.updated"),
        };
        let page = api.get(&path, &ann.token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        for entry in page.json["entries"].as_array().expect("entries") {
            seen.push(entry["id"].as_str().expect("an id").to_owned());
            assert_eq!(entry["action"], "profile.updated");
        }
        match page.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first");

    let actor = format!("{base}/audit?actor={}", ann.aid);
    assert_eq!(listed(&api, &actor, &ann.token).await, 6);
    // An empty cursor (a client's template with nothing in it) is the first page.
    assert_eq!(
        listed(&api, &format!("{base}/audit?cursor="), &ann.token).await,
        listed(&api, &format!("{base}/audit"), &ann.token).await
    );
    let nobody = format!("{base}/audit?actor=system");
    assert_eq!(listed(&api, &nobody, &ann.token).await, 0);
    let start = (before - chrono::Duration::seconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let ranged = format!("{base}/audit?start={}", start.replace('+', "%2B"));
    assert_eq!(listed(&api, &ranged, &ann.token).await, 6);
    let end = (before - chrono::Duration::seconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let early = format!("{base}/audit?end={}", end.replace('+', "%2B"));
    assert_eq!(listed(&api, &early, &ann.token).await, 0);

    for bad in [
        "action=no.such",
        "actor=nobody",
        "limit=0",
        "start=yesterday",
        "colour=red",
    ] {
        let reply = api.get(&format!("{base}/audit?{bad}"), &ann.token).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.text
        );
    }
    // A cursor of the profile's log is no cursor of the account's.
    let page = api.get(&format!("{base}/audit?limit=1"), &ann.token).await;
    let cursor = page.json["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let foreign = api
        .get(&format!("/v1/account/audit?cursor={cursor}"), &ann.token)
        .await;
    assert_eq!(foreign.status, StatusCode::BAD_REQUEST, "{}", foreign.text);
}

async fn entries_never_hold_a_secret(api: Api) {
    let ann = api.account("ann@example.com").await;
    let base = format!("/v1/profiles/{}", ann.pid);
    let issued = api
        .post(
            &format!("{base}/tokens"),
            Some(&ann.token),
            json!({"name": "ci", "permission": "read", "expires_in": "1 day", "password": PASSWORD}),
        )
        .await;
    let secret = issued.str("token");
    let new_password = "another long passphrase";
    let changed = put(
        &api,
        "/v1/account/password",
        &ann.token,
        json!({"current_password": PASSWORD, "new_password": new_password}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);
    let digest = shared::secrets::digest(&secret);
    for item in api.snapshot().await {
        if !item["SK"]
            .as_str()
            .is_some_and(|sk| sk.starts_with("AUDIT#"))
        {
            continue;
        }
        let text = serde_json::to_string(&item).expect("json");
        for secret in [
            secret.as_str(),
            digest.as_str(),
            PASSWORD,
            new_password,
            ann.token.as_str(),
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(!text.contains("argon2"), "{text}");
    }
}
