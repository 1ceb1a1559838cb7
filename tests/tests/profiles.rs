//! The profiles API end to end, on both adapters.

use std::sync::Arc;

use http::StatusCode;
use serde_json::json;
use shared::store::Table;
use tenantry_tests::api::Api;
use tenantry_tests::failing::FailingTable;
use tenantry_tests::post::Post;

tenantry_tests::on_both_adapters!(
    create_list_rename_and_logo,
    bad_profile_input_writes_nothing,
    strangers_get_404_exactly_as_for_a_missing_profile,
    delete_needs_the_password_and_keeps_the_last_profile,
    delete_removes_everything_under_the_profile,
    a_purge_cut_short_is_finished_from_its_pending_purge,
);

async fn create_list_rename_and_logo(api: Api) {
    let ann = api.account("ann@example.com").await;
    let first = api
        .post(
            "/v1/profiles",
            Some(&ann.token),
            json!({"name": "Shop", "logo_url": "https://cdn.example.com/logo.png"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.str("name"), "Shop");
    assert_eq!(first.str("logo_url"), "https://cdn.example.com/logo.png");
    assert_eq!(first.str("role"), "owner");
    // Names need not be unique.
    let second = api
        .post("/v1/profiles", Some(&ann.token), json!({"name": "Shop"}))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    assert_ne!(first.str("id"), second.str("id"));

    let list = api.get("/v1/profiles", &ann.token).await;
    let profiles = list.json["profiles"].as_array().expect("a list");
    assert_eq!(profiles.len(), 3);
    assert!(profiles.iter().all(|p| p["role"] == "owner"));

    let path = format!("/v1/profiles/{}", first.str("id"));
    let renamed = api
        .patch(
            &path,
            &ann.token,
            json!({"name": "Boutique", "logo_url": null}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.str("name"), "Boutique");
    assert!(renamed.json["logo_url"].is_null());
    let read = api.get(&path, &ann.token).await;
    assert_eq!(read.str("name"), "Boutique");
    assert!(read.json["logo_url"].is_null());
    // The list shows the new name too.
    let list = api.get("/v1/profiles", &ann.token).await;
    let names: Vec<&str> = list.json["profiles"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"Boutique"), "{names:?}");
    // A logo alone changes only the logo.
    let logo = api
        .patch(
            &path,
            &ann.token,
            json!({"logo_url": "http://example.org/l.svg"}),
        )
        .await;
    assert_eq!(logo.status, StatusCode::OK, "{}", logo.text);
    assert_eq!(logo.str("name"), "Boutique");
    assert_eq!(logo.str("logo_url"), "http://example.org/l.svg");
}

async fn bad_profile_input_writes_nothing(api: Api) {
    let ann = api.account("ann@example.com").await;
    let path = format!("/v1/profiles/{}", ann.pid);
    let cases = [
        (
            "POST",
            "/v1/profiles".to_owned(),
            json!({"name": "x".repeat(101)}),
            422,
            "validation-failed",
        ),
        (
            "POST",
            "/v1/profiles".to_owned(),
            json!({"name": "  "}),
            422,
            "validation-failed",
        ),
        (
            "POST",
            "/v1/profiles".to_owned(),
            json!({"name": "Ok", "logo_url": "javascript:alert(1)"}),
            422,
            "validation-failed",
        ),
        (
            "POST",
            "/v1/profiles".to_owned(),
            json!({"name": "Ok", "logo": "x"}),
            422,
            "invalid-body",
        ),
        (
            "POST",
            "/v1/profiles".to_owned(),
            json!({"name": ["Ok"]}),
            422,
            "invalid-body",
        ),
        (
            "POST",
            "/v1/profiles".to_owned(),
            json!({}),
            422,
            "invalid-body",
        ),
        (
            "PATCH",
            path.clone(),
            json!({"name": "x".repeat(101)}),
            422,
            "validation-failed",
        ),
        (
            "PATCH",
            path.clone(),
            json!({"logo_url": "ftp://example.com/l.png"}),
            422,
            "validation-failed",
        ),
        (
            "PATCH",
            path.clone(),
            json!({"owner": "someone"}),
            422,
            "invalid-body",
        ),
        ("DELETE", path.clone(), json!({}), 422, "invalid-body"),
        (
            "PATCH",
            "/v1/profiles/123".to_owned(),
            json!({"name": "X"}),
            400,
            "invalid-id",
        ),
    ];
    for (method, path, body, status, kind) in cases {
        let what = format!("{method} {path} {body}");
        let reply = api
            .assert_writes_nothing(&what, || {
                api.call(
                    method.parse().expect("method"),
                    &path,
                    Some(&ann.token),
                    Some(body.clone()),
                )
            })
            .await;
        assert_eq!(reply.status.as_u16(), status, "{what}: {}", reply.text);
        assert_eq!(reply.problem(), kind, "{what}");
    }
}

async fn strangers_get_404_exactly_as_for_a_missing_profile(api: Api) {
    let ann = api.account("ann@example.com").await;
    let eve = api.account("eve@example.com").await;
    let ann_profile = format!("/v1/profiles/{}", ann.pid);
    let missing = format!("/v1/profiles/{}", uuid::Uuid::now_v7());
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"name": "Pwned"}))),
        ("DELETE", Some(json!({"password": eve.password}))),
    ] {
        let stranger = api
            .assert_unchanged("stranger", || {
                api.call(
                    method.parse().expect("method"),
                    &ann_profile,
                    Some(&eve.token),
                    body.clone(),
                )
            })
            .await;
        let nobody = api
            .call(
                method.parse().expect("method"),
                &missing,
                Some(&eve.token),
                body.clone(),
            )
            .await;
        assert_eq!(
            stranger.status,
            StatusCode::NOT_FOUND,
            "{method}: {}",
            stranger.text
        );
        assert_eq!(stranger.text, nobody.text, "{method}");
        assert!(!stranger.text.contains(&ann.pid));
    }
    // Nor does Ann's profile appear in Eve's list.
    let list = api.get("/v1/profiles", &eve.token).await;
    assert!(!list.text.contains(&ann.pid));
    assert_eq!(list.json["profiles"].as_array().map(Vec::len), Some(1));
    // And without a session there is nothing at all.
    let anonymous = api.call(http::Method::GET, &ann_profile, None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

async fn delete_needs_the_password_and_keeps_the_last_profile(api: Api) {
    let ann = api.account("ann@example.com").await;
    let only = format!("/v1/profiles/{}", ann.pid);
    let last = api
        .assert_unchanged("last profile", || {
            api.delete(&only, &ann.token, Some(json!({"password": ann.password})))
        })
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.text);

    let extra = api
        .post("/v1/profiles", Some(&ann.token), json!({"name": "Extra"}))
        .await;
    let extra = format!("/v1/profiles/{}", extra.str("id"));
    let wrong = api
        .delete(
            &extra,
            &ann.token,
            Some(json!({"password": "not my password"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    assert_eq!(api.get(&extra, &ann.token).await.status, StatusCode::OK);

    let gone = api
        .delete(&extra, &ann.token, Some(json!({"password": ann.password})))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    assert_eq!(
        api.get(&extra, &ann.token).await.status,
        StatusCode::NOT_FOUND
    );
    // Now the first profile is the last again.
    let again = api
        .delete(&only, &ann.token, Some(json!({"password": ann.password})))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

async fn delete_removes_everything_under_the_profile(api: Api) {
    let ann = api.account("ann@example.com").await;
    // Items of every kind that exists so far under a profile: the profile, its membership on
    // both sides (renamed, so the account-side copy was rewritten too), an API token.
    let (pid, secret) = profile_with_token(&api, &ann).await;
    let path = format!("/v1/profiles/{pid}");
    let renamed = api
        .patch(
            &path,
            &ann.token,
            json!({"name": "Doomed 2", "logo_url": "https://x.example/l.png"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    let mentions = |items: &[shared::store::Item]| mentions_of(&pid, items);
    assert!(mentions(&api.snapshot().await) >= 3);

    let post = Post::new(&api).await;
    let gone = api
        .delete(&path, &ann.token, Some(json!({"password": ann.password})))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    // The rest goes when the pending purge comes through the stream.
    post.deliver(&api).await;
    let left = api.snapshot().await;
    assert_eq!(mentions(&left), 0, "items still mention {pid}: {left:?}");
    assert_eq!(
        api.get("/v1/account", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The account and its other profile are untouched.
    assert_eq!(
        api.get(&format!("/v1/profiles/{}", ann.pid), &ann.token)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/v1/account", &ann.token).await.status,
        StatusCode::OK
    );
}

/// A new profile of `ann` with a full API token (which lives outside the profile's partition):
/// its id and the token's secret.
async fn profile_with_token(api: &Api, ann: &tenantry_tests::api::Account) -> (String, String) {
    let created = api
        .post("/v1/profiles", Some(&ann.token), json!({"name": "Doomed"}))
        .await;
    let pid = created.str("id");
    let token = api
        .post(
            &format!("/v1/profiles/{pid}/tokens"),
            Some(&ann.token),
            json!({"name": "ci", "permission": "full", "expires_in": "never", "password": ann.password}),
        )
        .await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.text);
    (pid, token.str("token"))
}

/// How many of `items` mention `pid` anywhere.
fn mentions_of(pid: &str, items: &[shared::store::Item]) -> usize {
    items
        .iter()
        // The owner's audit log records the deletion (`profile.deleted`): that entry names it.
        .filter(|item| {
            let pk = item.get("PK").and_then(|pk| pk.as_str()).unwrap_or("");
            !(pk.starts_with("ACCOUNT#") && item.get("action") == Some(&json!("profile.deleted")))
        })
        .filter(|item| serde_json::to_string(item).expect("json").contains(pid))
        .count()
}

/// Deleting a profile is one transaction: the profile goes (404 at once, for everyone), the
/// owner's membership goes, and its pending purge is written. What was under it goes when the
/// pending purge comes through the stream (or the local feed); a delivery that fails (here: the
/// store refuses one of the purge's writes) is delivered again, and finishes the job.
async fn a_purge_cut_short_is_finished_from_its_pending_purge(table: Arc<dyn Table>) {
    let failing = Arc::new(FailingTable::new(table));
    let api = Api::new(failing.clone());
    let ann = api.account("ann@example.com").await;
    let (pid, secret) = profile_with_token(&api, &ann).await;
    let path = format!("/v1/profiles/{pid}");
    let mentions = |items: &[shared::store::Item]| mentions_of(&pid, items);
    let post = Post::new(&api).await;

    let before = api.calls();
    let gone = api
        .delete(&path, &ann.token, Some(json!({"password": ann.password})))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    let made = api.calls().since(&before);
    assert_eq!((made.steps, made.writes()), (2, 1), "{made:?}");
    assert_eq!(
        api.get(&path, &ann.token).await.status,
        StatusCode::NOT_FOUND
    );
    let listed = api.get("/v1/profiles", &ann.token).await;
    assert!(!listed.text.contains(&pid), "{}", listed.text);
    let left = api.snapshot().await;
    assert!(
        mentions(&left) >= 3,
        "until the stream comes, the members, the token and the pending purge are left: {left:?}"
    );
    let pending = shared::keys::pending_purge(pid.parse().expect("a profile id"));
    assert!(failing.get(&pending).await.expect("get").is_some());
    // The invariant checker knows a pending purge: what is left is a notice, not a violation.
    let report = shared::check::check_table(failing.as_ref())
        .await
        .expect("a check");
    assert!(report.is_clean(), "{:#?}", report.violations);
    assert!(
        report
            .notices
            .iter()
            .any(|notice| notice.detail.contains("its purge is pending")),
        "{:#?}",
        report.notices
    );

    // The first delivery fails half way: the token's delete is refused.
    let token_key = api
        .snapshot()
        .await
        .iter()
        .find(|item| item.get("kind") == Some(&json!("profile")))
        .and_then(shared::store::Key::of)
        .expect("the API token's item");
    failing.fail_writes_to(move |key| *key == token_key);
    let failed = shared::notify::handle_batch(
        &api.app,
        &tenantry_tests::post::Recorder::default(),
        vec![shared::notify::StreamEvent {
            id: "purge-1".into(),
            change: shared::store::Change {
                key: pending.clone(),
                old: None,
                new: failing.get(&pending).await.expect("get"),
                expired: false,
            },
        }],
    )
    .await;
    assert_eq!(failed, vec!["purge-1".to_owned()]);
    assert!(failing.get(&pending).await.expect("get").is_some());

    failing.heal();
    post.deliver(&api).await;
    let left = api.snapshot().await;
    assert_eq!(mentions(&left), 0, "items still mention {pid}: {left:?}");
    let report = shared::check::check_table(failing.as_ref())
        .await
        .expect("a check");
    assert!(report.is_clean(), "{:#?}", report.violations);
    assert!(report.notices.is_empty(), "{:#?}", report.notices);
    assert_eq!(
        api.get("/v1/account", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get("/v1/account", &ann.token).await.status,
        StatusCode::OK
    );
}
