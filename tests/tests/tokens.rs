//! Profile API tokens end to end, on both adapters.

use http::{Method, StatusCode};
use serde_json::json;
use shared::domain::Role;
use shared::secrets::{self, SecretKind};
use shared::store::Update;
use tenantry_tests::api::{Api, PASSWORD};
use tenantry_tests::world::{join, person};

tenantry_tests::on_both_adapters!(
    issuing_needs_the_password_and_shows_the_secret_once,
    expiry_forms,
    read_token_reads_and_is_refused_for_writes_and_after_revocation,
    expiry_takes_effect_on_the_next_request,
    a_token_never_does_more_than_its_creator,
    members_see_and_revoke_only_their_own,
    last_use_is_written_at_most_once_a_minute,
    tokens_in_the_query_string_are_refused,
);

fn issue_body(permission: &str, expiry: serde_json::Value) -> serde_json::Value {
    let mut body = json!({"name": "deploy", "permission": permission, "password": PASSWORD});
    if let (Some(body), Some(expiry)) = (body.as_object_mut(), expiry.as_object()) {
        body.extend(expiry.clone());
    }
    body
}

async fn issuing_needs_the_password_and_shows_the_secret_once(api: Api) {
    let ann = api.account("ann@example.com").await;
    let path = format!("/v1/profiles/{}/tokens", ann.pid);
    let mut wrong = issue_body("read", json!({"expires_in": "1 day"}));
    wrong["password"] = json!("not my password");
    let refused = api.post(&path, Some(&ann.token), wrong).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    let listed = api.get(&path, &ann.token).await;
    assert_eq!(
        listed.json["tokens"].as_array().map(Vec::len),
        Some(0),
        "nothing issued"
    );

    let issued = api
        .post(
            &path,
            Some(&ann.token),
            issue_body("read", json!({"expires_in": "1 day"})),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    let secret = issued.str("token");
    assert_eq!(secrets::parse(&secret), Some(SecretKind::ProfileToken));
    assert!(secret.starts_with("tnyp_"));
    assert_eq!(issued.str("permission"), "read");
    assert_eq!(issued.str("created_by"), ann.aid);

    let listed = api.get(&path, &ann.token).await;
    let tokens = listed.json["tokens"].as_array().expect("a list");
    assert_eq!(tokens.len(), 1);
    for field in [
        "id",
        "name",
        "permission",
        "created_at",
        "created_by",
        "expires_at",
        "last_used_at",
    ] {
        assert!(
            tokens[0].get(field).is_some(),
            "no {field} in {}",
            listed.text
        );
    }
    let digest = secrets::digest(&secret);
    assert!(!listed.text.contains(&secret) && !listed.text.contains(&digest));
    let stored = serde_json::to_string(&api.snapshot().await).expect("json");
    assert!(
        !stored.contains(&secret),
        "the secret is stored only as its hash"
    );
    assert!(stored.contains(&digest));

    // Wrong password attempts count toward the login throttle.
    for _ in 0..10 {
        let mut wrong = issue_body("read", json!({"expires_in": "1 day"}));
        wrong["password"] = json!("still not it");
        api.post(&path, Some(&ann.token), wrong).await;
    }
    let throttled = api
        .post(
            "/v1/login",
            None,
            json!({"email": ann.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn expiry_forms(api: Api) {
    let ann = api.account("ann@example.com").await;
    let path = format!("/v1/profiles/{}/tokens", ann.pid);
    let now = api.app.now();
    let cases = [
        ("3 hours", chrono::Duration::hours(3)),
        ("1 day", chrono::Duration::days(1)),
        ("2 weeks", chrono::Duration::weeks(2)),
        ("1 month", chrono::Duration::days(28)),
        ("1 year", chrono::Duration::days(365)),
    ];
    for (within, at_least) in cases {
        let reply = api
            .post(
                &path,
                Some(&ann.token),
                issue_body("read", json!({"expires_in": within})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{within}: {}",
            reply.text
        );
        let at = chrono::DateTime::parse_from_rfc3339(&reply.str("expires_at")).expect("rfc3339");
        let lasts = at.with_timezone(&chrono::Utc) - now;
        assert!(
            lasts >= at_least && lasts <= at_least + chrono::Duration::days(4),
            "{within}: {lasts}"
        );
    }
    let at = (now + chrono::Duration::days(3)).to_rfc3339();
    let reply = api
        .post(
            &path,
            Some(&ann.token),
            issue_body("write", json!({"expires_at": at})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let never = api
        .post(
            &path,
            Some(&ann.token),
            issue_body("full", json!({"expires_in": "never"})),
        )
        .await;
    assert_eq!(never.status, StatusCode::CREATED, "{}", never.text);
    assert!(never.json["expires_at"].is_null());

    let past = (now - chrono::Duration::hours(1)).to_rfc3339();
    for bad in [
        issue_body("read", json!({"expires_at": past})),
        issue_body("read", json!({"expires_in": "3 fortnights"})),
        issue_body("read", json!({"expires_in": "soon"})),
        issue_body("read", json!({"expires_at": "tomorrow"})),
        issue_body("read", json!({})),
        issue_body("read", json!({"expires_in": "1 day", "expires_at": at})),
        issue_body("admin", json!({"expires_in": "1 day"})),
        issue_body("read", json!({"expires_in": "1 day", "scope": "all"})),
    ] {
        let reply = api
            .assert_writes_nothing(&bad.to_string(), || {
                api.post(&path, Some(&ann.token), bad.clone())
            })
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.text
        );
    }
}

async fn read_token_reads_and_is_refused_for_writes_and_after_revocation(api: Api) {
    let ann = api.account("ann@example.com").await;
    let issued = api
        .post(
            &format!("/v1/profiles/{}/tokens", ann.pid),
            Some(&ann.token),
            issue_body("read", json!({"expires_in": "1 day"})),
        )
        .await;
    let read = issued.str("token");
    let profile = format!("/v1/profiles/{}", ann.pid);
    assert_eq!(api.get(&profile, &read).await.status, StatusCode::OK);
    let write = api
        .assert_unchanged("read token PATCH", || {
            api.patch(&profile, &read, json!({"name": "Nope"}))
        })
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    // Not a session either.
    assert_eq!(
        api.get("/v1/account", &read).await.status,
        StatusCode::FORBIDDEN
    );

    let revoke = api
        .delete(
            &format!("/v1/profiles/{}/tokens/{}", ann.pid, issued.str("id")),
            &ann.token,
            None,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{}", revoke.text);
    assert_eq!(
        api.get(&profile, &read).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn expiry_takes_effect_on_the_next_request(api: Api) {
    let ann = api.account("ann@example.com").await;
    let issued = api
        .post(
            &format!("/v1/profiles/{}/tokens", ann.pid),
            Some(&ann.token),
            issue_body("full", json!({"expires_in": "3 hours"})),
        )
        .await;
    let token = issued.str("token");
    let profile = format!("/v1/profiles/{}", ann.pid);
    assert_eq!(api.get(&profile, &token).await.status, StatusCode::OK);
    api.app
        .clock
        .advance(chrono::Duration::hours(3) + chrono::Duration::seconds(1));
    assert_eq!(
        api.get(&profile, &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_token_never_does_more_than_its_creator(api: Api) {
    let (owner, _) = person(&api, "owner").await;
    let (mia, _) = person(&api, "mia").await;
    let pid = tenantry_tests::world::profile(&api, &owner, "Shared").await;
    join(&api, pid, &mia, Role::Member).await;
    let issued = api
        .post(
            &format!("/v1/profiles/{pid}/tokens"),
            Some(&mia.session),
            issue_body("full", json!({"expires_in": "1 day"})),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    let token = issued.str("token");
    let profile = format!("/v1/profiles/{pid}");
    // A full token of a member is a member: no rename.
    assert_eq!(
        api.patch(&profile, &token, json!({"name": "X"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // The creator's role rises: so does the token's power, at once.
    let key = shared::keys::profile_member(pid, mia.aid);
    api.app
        .table
        .update(&key, Update::new().set("role", "admin"), None)
        .await
        .expect("promote");
    assert_eq!(
        api.patch(&profile, &token, json!({"name": "X"}))
            .await
            .status,
        StatusCode::OK
    );
    // The creator leaves: the token no longer reaches the profile.
    api.app.table.delete(&key, None).await.expect("leave");
    assert_eq!(
        api.get(&profile, &token).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn members_see_and_revoke_only_their_own(api: Api) {
    let (owner, _) = person(&api, "owner").await;
    let (mia, _) = person(&api, "mia").await;
    let pid = tenantry_tests::world::profile(&api, &owner, "Shared").await;
    join(&api, pid, &mia, Role::Member).await;
    let path = format!("/v1/profiles/{pid}/tokens");
    let owners = api
        .post(
            &path,
            Some(&owner.session),
            issue_body("read", json!({"expires_in": "1 day"})),
        )
        .await;
    let mias = api
        .post(
            &path,
            Some(&mia.session),
            issue_body("read", json!({"expires_in": "1 day"})),
        )
        .await;
    assert_eq!(owners.status, StatusCode::CREATED);
    assert_eq!(mias.status, StatusCode::CREATED);

    let seen_by_mia = api.get(&path, &mia.session).await;
    let ids: Vec<String> = seen_by_mia.json["tokens"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids, vec![mias.str("id")]);
    let seen_by_owner = api.get(&path, &owner.session).await;
    assert_eq!(
        seen_by_owner.json["tokens"].as_array().map(Vec::len),
        Some(2)
    );

    let owners_path = format!("{path}/{}", owners.str("id"));
    let steal = api
        .assert_unchanged("member revokes owner's token", || {
            api.delete(&owners_path, &mia.session, None)
        })
        .await;
    assert_eq!(steal.status, StatusCode::NOT_FOUND);
    let own = api
        .delete(&format!("{path}/{}", mias.str("id")), &mia.session, None)
        .await;
    assert_eq!(own.status, StatusCode::NO_CONTENT);
    let by_owner = api
        .delete(
            &format!("{path}/{}", owners.str("id")),
            &owner.session,
            None,
        )
        .await;
    assert_eq!(by_owner.status, StatusCode::NO_CONTENT);
    let bad_id = api
        .delete(&format!("{path}/not-an-id"), &owner.session, None)
        .await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
}

async fn last_use_is_written_at_most_once_a_minute(api: Api) {
    let ann = api.account("ann@example.com").await;
    let issued = api
        .post(
            &format!("/v1/profiles/{}/tokens", ann.pid),
            Some(&ann.token),
            issue_body("read", json!({"expires_in": "1 day"})),
        )
        .await;
    let token = issued.str("token");
    let profile = format!("/v1/profiles/{}", ann.pid);
    let before = api.calls();
    for _ in 0..3 {
        assert_eq!(api.get(&profile, &token).await.status, StatusCode::OK);
    }
    assert_eq!(
        api.calls().since(&before).update,
        1,
        "one last-use write (the profile's own route is not metered)"
    );
    // A token-authenticated GET: the token, the creator's membership and the profile (read at
    // once).
    let before = api.calls();
    api.get(&profile, &token).await;
    assert_eq!(api.calls().since(&before).total(), 3);

    let listed = api
        .get(&format!("/v1/profiles/{}/tokens", ann.pid), &ann.token)
        .await;
    assert!(
        listed.json["tokens"][0]["last_used_at"].is_string(),
        "{}",
        listed.text
    );
    api.app.clock.advance(chrono::Duration::seconds(61));
    let before = api.calls();
    api.get(&profile, &token).await;
    assert_eq!(
        api.calls().since(&before).update,
        1,
        "last use written again after a minute"
    );
}

async fn tokens_in_the_query_string_are_refused(api: Api) {
    let ann = api.account("ann@example.com").await;
    let profile = format!("/v1/profiles/{}", ann.pid);
    for query in [
        format!("access_token={}", ann.token),
        format!("x={}", ann.token),
        "token=abc".to_owned(),
    ] {
        let anonymous = api
            .call(Method::GET, &format!("{profile}?{query}"), None, None)
            .await;
        assert_eq!(anonymous.status, StatusCode::BAD_REQUEST, "{query}");
        let with_header = api.get(&format!("{profile}?{query}"), &ann.token).await;
        assert_eq!(with_header.status, StatusCode::BAD_REQUEST, "{query}");
    }
}
