//! Rules every answer and every name keeps, found by the security review of issue 9: no answer may
//! be cached, one visible e-mail address is one account, names cannot hide text behind bidi
//! overrides, and an invitation answered with `{}` is answered like one with no body.

use http::{Method, StatusCode};
use serde_json::json;
use tenantry_tests::api::{Api, PASSWORD};
use tenantry_tests::world::{person, profile};

tenantry_tests::on_both_adapters!(
    every_answer_is_marked_no_store,
    one_visible_address_is_one_account,
    names_refuse_bidi_overrides_and_write_nothing,
    an_empty_object_answers_an_invitation_like_no_body,
    a_non_utf8_path_id_is_invalid_and_a_whole_float_is_an_integer,
);

fn no_store(reply: &tenantry_tests::api::Reply) -> bool {
    reply
        .headers
        .get(http::header::CACHE_CONTROL)
        .and_then(|value| value.to_str().ok())
        == Some("no-store")
}

async fn every_answer_is_marked_no_store(api: Api) {
    let ann = api.account("ann@example.com").await;
    let tokens = format!("/v1/profiles/{}/tokens", ann.pid);
    let issued = api
        .post(
            &tokens,
            Some(&ann.token),
            json!({"name": "ci", "permission": "read", "expires_in": "1 day", "password": PASSWORD}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    let replies = [
        ("a secret shown once", issued),
        (
            "a login",
            api.post(
                "/v1/login",
                None,
                json!({"email": "ann@example.com", "password": PASSWORD}),
            )
            .await,
        ),
        ("a read", api.get("/v1/account", &ann.token).await),
        ("a refusal", api.get("/v1/account", "tnys_forged").await),
        (
            "an unknown route",
            api.call(Method::GET, "/v1/nowhere", None, None).await,
        ),
        (
            "a wrong method",
            api.call(Method::PUT, "/v1/login", None, None).await,
        ),
    ];
    for (what, reply) in replies {
        assert!(
            no_store(&reply),
            "{what} ({}) lacks Cache-Control: no-store: {:?}",
            reply.status,
            reply.headers
        );
    }
}

async fn one_visible_address_is_one_account(api: Api) {
    // "René" with a precomposed é, then with e + a combining acute accent; a Unicode domain,
    // then its ASCII form.
    for (first, second) in [
        ("ren\u{e9}@example.com", "rene\u{301}@example.com"),
        ("ann@b\u{fc}cher.example", "ANN@xn--bcher-kva.example"),
    ] {
        let created = api
            .post(
                "/v1/accounts",
                None,
                json!({"email": first, "name": "First", "password": PASSWORD}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let again = api
            .assert_unchanged("the same address spelled otherwise", || {
                api.post(
                    "/v1/accounts",
                    None,
                    json!({"email": second, "name": "Second", "password": PASSWORD}),
                )
            })
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
        // Either spelling logs in to the one account.
        let token = api.login(second, PASSWORD).await;
        let me = api.get("/v1/account", &token).await;
        assert_eq!(me.str("id"), created.str("id"));
    }
}

async fn names_refuse_bidi_overrides_and_write_nothing(api: Api) {
    let ann = api.account("ann@example.com").await;
    let path = format!("/v1/profiles/{}", ann.pid);
    for name in [
        "Invoice \u{202e}gpj.exe",
        "Ac\u{200b}me",
        "x\u{2066}y\u{2069}",
    ] {
        let refused = api
            .assert_writes_nothing("a name with a format character", || {
                api.patch(&path, &ann.token, json!({ "name": name }))
            })
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.problem(), "validation-failed");
        assert_eq!(refused.json["field"], "name", "{}", refused.text);
        let signup = api
            .assert_writes_nothing("a sign-up name with a format character", || {
                api.post(
                    "/v1/accounts",
                    None,
                    json!({"email": "bob@example.com", "name": name, "password": PASSWORD}),
                )
            })
            .await;
        assert_eq!(signup.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

async fn an_empty_object_answers_an_invitation_like_no_body(api: Api) {
    let (owner, _) = person(&api, "owner").await;
    let pid = profile(&api, &owner, "Team").await;
    for (answer, status) in [("accept", "accepted"), ("decline", "declined")] {
        let (guest, _) = person(&api, "guest").await;
        let invited = api
            .post(
                &format!("/v1/profiles/{pid}/team"),
                Some(&owner.session),
                json!({"email": guest.email}),
            )
            .await;
        assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
        let iid = invited.str("id");
        let reply = api
            .call(
                Method::POST,
                &format!("/v1/invitations/{iid}/{answer}"),
                Some(&guest.session),
                Some(json!({})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{answer}: {}", reply.text);
        assert_eq!(reply.json["status"], status);
    }
}

/// Found by the fuzz run (issue 13): a path id that is not UTF-8 once percent-decoded was a 500,
/// and a whole number written with a decimal point (`3.0`, an integer to JSON Schema) was refused
/// as a wrong body. Neither writes anything when refused.
async fn a_non_utf8_path_id_is_invalid_and_a_whole_float_is_an_integer(api: Api) {
    let reply = api
        .assert_writes_nothing("a %FF path id", || {
            api.call(Method::GET, "/v1/profiles/%FF/run/settings", None, None)
        })
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.problem(), "invalid-id");
    let (owner, _) = person(&api, "owner").await;
    let pid = profile(&api, &owner, "Team").await;
    let reply = api
        .call(
            Method::PUT,
            &format!("/v1/profiles/{pid}/limits"),
            Some(&owner.session),
            Some(json!({"emails": 3.0})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["limits"]["emails"], 3, "{}", reply.text);
    let limits = format!("/v1/profiles/{pid}/limits");
    let reply = api
        .assert_writes_nothing("a real fraction", || {
            api.call(
                Method::PUT,
                &limits,
                Some(&owner.session),
                Some(json!({"emails": 3.5})),
            )
        })
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
}
