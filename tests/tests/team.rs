//! The team API end to end, on both adapters: invitations, answers, roles, removal, limits.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::json;
use shared::domain::Role;
use tenantry_tests::api::{Api, PASSWORD, Reply};
use tenantry_tests::world::{Person, join, person, profile};
use tokio::task::JoinSet;

tenantry_tests::on_both_adapters!(
    only_existing_accounts_not_yet_on_the_profile_can_be_invited,
    accept_by_session_joins_with_the_role,
    accepting_twice_at_once_succeeds_once,
    expired_invitations_are_refused_listed_and_can_be_resent,
    revoked_and_declined_invitations_cannot_be_accepted,
    roles_change_and_gate_what_members_do,
    removed_members_lose_access_at_once,
    team_members_limit_holds,
    invitations_are_rate_limited_and_count_as_emails,
);

async fn invite(api: &Api, pid: uuid::Uuid, by: &Person, email: &str, role: &str) -> Reply {
    api.post(
        &format!("/v1/profiles/{pid}/team"),
        Some(&by.session),
        json!({"email": email, "role": role}),
    )
    .await
}

async fn setup(api: &Api) -> (Person, Person, uuid::Uuid) {
    let (owner, _) = person(api, "owner").await;
    let (guest, _) = person(api, "guest").await;
    let pid = profile(api, &owner, "Team").await;
    (owner, guest, pid)
}

async fn only_existing_accounts_not_yet_on_the_profile_can_be_invited(api: Api) {
    let (owner, guest, pid) = setup(&api).await;
    let unknown = api
        .assert_unchanged("unknown e-mail", || {
            invite(&api, pid, &owner, "nobody@example.com", "member")
        })
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );
    let own = invite(&api, pid, &owner, &owner.email, "member").await;
    assert_eq!(own.status, StatusCode::CONFLICT, "{}", own.text);
    let as_owner = invite(&api, pid, &owner, &guest.email, "owner").await;
    assert_eq!(
        as_owner.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        as_owner.text
    );

    let first = invite(&api, pid, &owner, &guest.email.to_uppercase(), "admin").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.str("status"), "pending");
    assert_eq!(first.str("role"), "admin");
    assert_eq!(first.str("email"), guest.email);
    assert!(
        !first.text.contains("tnyi_"),
        "the link's secret is only in the e-mail"
    );
    let twice = api
        .assert_unchanged("twice", || {
            invite(&api, pid, &owner, &guest.email, "member")
        })
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.text);

    // A member is not invited twice either.
    let (mia, _) = person(&api, "mia").await;
    join(&api, pid, &mia, Role::Member).await;
    assert_eq!(
        invite(&api, pid, &owner, &mia.email, "member").await.status,
        StatusCode::CONFLICT
    );
    // Members cannot invite.
    let (other, _) = person(&api, "other").await;
    assert_eq!(
        invite(&api, pid, &mia, &other.email, "member").await.status,
        StatusCode::FORBIDDEN
    );
}

async fn accept_by_session_joins_with_the_role(api: Api) {
    let (owner, guest, pid) = setup(&api).await;
    let invited = invite(&api, pid, &owner, &guest.email, "admin").await;
    let iid = invited.str("id");
    let mine = api.get("/v1/account/invitations", &guest.session).await;
    assert_eq!(
        mine.json["invitations"][0]["id"],
        iid.as_str(),
        "{}",
        mine.text
    );
    assert_eq!(mine.json["invitations"][0]["profile_name"], "Team");

    // Someone else's session cannot answer it.
    let (eve, _) = person(&api, "eve").await;
    let stolen = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{iid}/accept"),
            Some(&eve.session),
            None,
        )
        .await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND, "{}", stolen.text);
    let anonymous = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{iid}/accept"),
            None,
            None,
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let accepted = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{iid}/accept"),
            Some(&guest.session),
            None,
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(accepted.json["profile"]["id"], pid.to_string());

    let team = api
        .get(&format!("/v1/profiles/{pid}/team"), &owner.session)
        .await;
    let members = team.json["members"].as_array().expect("members");
    let joined = members
        .iter()
        .find(|m| m["id"] == guest.aid.to_string())
        .expect("the guest");
    assert_eq!(joined["role"], "admin");
    assert_eq!(team.json["invitations"][0]["status"], "accepted");
    // The profile is in the guest's list, with the role; the invitation is no longer pending.
    let list = api.get("/v1/profiles", &guest.session).await;
    assert!(
        list.json["profiles"]
            .as_array()
            .expect("list")
            .iter()
            .any(|p| p["id"] == pid.to_string() && p["role"] == "admin"),
        "{}",
        list.text
    );
    let mine = api.get("/v1/account/invitations", &guest.session).await;
    assert_eq!(mine.json["invitations"].as_array().map(Vec::len), Some(0));
    // The usage shows one team member.
    let usage = api
        .get(&format!("/v1/profiles/{pid}/usage"), &owner.session)
        .await;
    assert_eq!(
        usage.json["services"]["team_members"]["used"], 1,
        "{}",
        usage.text
    );
}

async fn accepting_twice_at_once_succeeds_once(api: Api) {
    let (owner, guest, pid) = setup(&api).await;
    let iid = invite(&api, pid, &owner, &guest.email, "member")
        .await
        .str("id");
    let api = Arc::new(api);
    let mut racers = JoinSet::new();
    for _ in 0..6 {
        let api = api.clone();
        let session = guest.session.clone();
        let path = format!("/v1/invitations/{iid}/accept");
        racers.spawn(async move {
            api.call(Method::POST, &path, Some(&session), None)
                .await
                .status
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = racers.join_next().await {
        statuses.push(status.expect("a racer"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let usage = api
        .get(&format!("/v1/profiles/{pid}/usage"), &owner.session)
        .await;
    assert_eq!(usage.json["services"]["team_members"]["used"], 1);
}

async fn expired_invitations_are_refused_listed_and_can_be_resent(api: Api) {
    let (owner, guest, pid) = setup(&api).await;
    let iid = invite(&api, pid, &owner, &guest.email, "member")
        .await
        .str("id");
    api.app.clock.advance(chrono::Duration::days(8));
    let owner_session = api.login(&owner.email, PASSWORD).await;
    let guest_session = api.login(&guest.email, PASSWORD).await;
    let late = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{iid}/accept"),
            Some(&guest_session),
            None,
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.text);
    assert!(late.text.contains("expired"));
    let team = api
        .get(&format!("/v1/profiles/{pid}/team"), &owner_session)
        .await;
    assert_eq!(
        team.json["invitations"][0]["status"], "expired",
        "{}",
        team.text
    );
    // A new invitation to the same e-mail is possible once the old one expired; so is a resend.
    let resent = api
        .post(
            &format!("/v1/profiles/{pid}/invitations/{iid}/resend"),
            Some(&owner_session),
            json!({}),
        )
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.text);
    assert_eq!(resent.str("status"), "pending");
    let accepted = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{iid}/accept"),
            Some(&guest_session),
            None,
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
}

async fn revoked_and_declined_invitations_cannot_be_accepted(api: Api) {
    let (owner, guest, pid) = setup(&api).await;
    let iid = invite(&api, pid, &owner, &guest.email, "member")
        .await
        .str("id");
    let revoked = api
        .delete(
            &format!("/v1/profiles/{pid}/invitations/{iid}"),
            &owner.session,
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    let refused = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{iid}/accept"),
            Some(&guest.session),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);

    let iid = invite(&api, pid, &owner, &guest.email, "member")
        .await
        .str("id");
    let declined = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{iid}/decline"),
            Some(&guest.session),
            None,
        )
        .await;
    assert_eq!(declined.status, StatusCode::OK, "{}", declined.text);
    let refused = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{iid}/accept"),
            Some(&guest.session),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    let team = api
        .get(&format!("/v1/profiles/{pid}/team"), &owner.session)
        .await;
    let statuses: Vec<&str> = team.json["invitations"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|i| i["status"].as_str())
        .collect();
    assert!(
        statuses.contains(&"revoked") && statuses.contains(&"declined"),
        "{statuses:?}"
    );
    assert_eq!(
        team.json["members"].as_array().map(Vec::len),
        Some(1),
        "only the owner"
    );
}

async fn roles_change_and_gate_what_members_do(api: Api) {
    let (owner, guest, pid) = setup(&api).await;
    join(&api, pid, &guest, Role::Member).await;
    let (third, _) = person(&api, "third").await;
    let path = format!("/v1/profiles/{pid}/team/{}", guest.aid);
    // A member can neither invite nor change roles.
    assert_eq!(
        invite(&api, pid, &guest, &third.email, "member")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let self_promote = api
        .patch(&path, &guest.session, json!({"role": "admin"}))
        .await;
    assert_eq!(self_promote.status, StatusCode::FORBIDDEN);
    let promoted = api
        .patch(&path, &owner.session, json!({"role": "admin"}))
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text);
    assert_eq!(promoted.str("role"), "admin");
    assert_eq!(
        invite(&api, pid, &guest, &third.email, "member")
            .await
            .status,
        StatusCode::CREATED
    );
    // Admins cannot change roles; nobody changes the owner's; owner is not a role to give.
    let by_admin = api
        .patch(&path, &guest.session, json!({"role": "member"}))
        .await;
    assert_eq!(by_admin.status, StatusCode::FORBIDDEN);
    let owner_path = format!("/v1/profiles/{pid}/team/{}", owner.aid);
    assert_eq!(
        api.patch(&owner_path, &owner.session, json!({"role": "member"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let bad = api
        .assert_writes_nothing("role owner", || {
            api.patch(&path, &owner.session, json!({"role": "owner"}))
        })
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad = api
        .assert_writes_nothing("role typo", || {
            api.patch(&path, &owner.session, json!({"role": "boss"}))
        })
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn removed_members_lose_access_at_once(api: Api) {
    let (owner, guest, pid) = setup(&api).await;
    let iid = invite(&api, pid, &owner, &guest.email, "admin")
        .await
        .str("id");
    api.call(
        Method::POST,
        &format!("/v1/invitations/{iid}/accept"),
        Some(&guest.session),
        None,
    )
    .await;
    let token = api
        .post(
            &format!("/v1/profiles/{pid}/tokens"),
            Some(&guest.session),
            json!({"name": "t", "permission": "full", "expires_in": "1 day", "password": PASSWORD}),
        )
        .await
        .str("token");
    let profile_path = format!("/v1/profiles/{pid}");
    assert_eq!(api.get(&profile_path, &token).await.status, StatusCode::OK);

    let removed = api
        .delete(
            &format!("/v1/profiles/{pid}/team/{}", guest.aid),
            &owner.session,
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    assert_eq!(
        api.get(&profile_path, &guest.session).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get(&profile_path, &token).await.status,
        StatusCode::NOT_FOUND
    );
    let list = api.get("/v1/profiles", &guest.session).await;
    assert!(!list.text.contains(&pid.to_string()));

    // Leaving: a member removes themselves; the owner cannot leave.
    let (mia, _) = person(&api, "mia").await;
    join(&api, pid, &mia, Role::Member).await;
    let (zed, _) = person(&api, "zed").await;
    join(&api, pid, &zed, Role::Member).await;
    let other = api
        .delete(
            &format!("/v1/profiles/{pid}/team/{}", zed.aid),
            &mia.session,
            None,
        )
        .await;
    assert_eq!(
        other.status,
        StatusCode::FORBIDDEN,
        "a member removes only themselves"
    );
    let left = api
        .delete(
            &format!("/v1/profiles/{pid}/team/{}", mia.aid),
            &mia.session,
            None,
        )
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.text);
    assert_eq!(
        api.get(&profile_path, &mia.session).await.status,
        StatusCode::NOT_FOUND
    );
    let owner_leaves = api
        .delete(
            &format!("/v1/profiles/{pid}/team/{}", owner.aid),
            &owner.session,
            None,
        )
        .await;
    assert_eq!(owner_leaves.status, StatusCode::CONFLICT);
}

async fn team_members_limit_holds(api: Api) {
    let (owner, guest, pid) = setup(&api).await;
    let (second, _) = person(&api, "second").await;
    let limits = api
        .call(
            Method::PUT,
            &format!("/v1/profiles/{pid}/limits"),
            Some(&owner.session),
            Some(json!({"team_members": 1})),
        )
        .await;
    assert_eq!(limits.status, StatusCode::OK, "{}", limits.text);
    let first = invite(&api, pid, &owner, &guest.email, "member")
        .await
        .str("id");
    let other = invite(&api, pid, &owner, &second.email, "member")
        .await
        .str("id");
    let ok = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{first}/accept"),
            Some(&guest.session),
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let full = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{other}/accept"),
            Some(&second.session),
            None,
        )
        .await;
    assert_eq!(full.status, StatusCode::TOO_MANY_REQUESTS, "{}", full.text);
    assert_eq!(full.json["service"], "team_members");
    // The invitation stays pending: it can be accepted once there is room.
    api.call(
        Method::PUT,
        &format!("/v1/profiles/{pid}/limits"),
        Some(&owner.session),
        Some(json!({"team_members": 2})),
    )
    .await;
    let later = api
        .call(
            Method::POST,
            &format!("/v1/invitations/{other}/accept"),
            Some(&second.session),
            None,
        )
        .await;
    assert_eq!(later.status, StatusCode::OK, "{}", later.text);
}

async fn invitations_are_rate_limited_and_count_as_emails(api: Api) {
    let (owner, _, pid) = setup(&api).await;
    let mut people = Vec::new();
    for i in 0..21 {
        people.push(person(&api, &format!("p{i}")).await.0);
    }
    for (i, invitee) in people.iter().enumerate() {
        let reply = invite(&api, pid, &owner, &invitee.email, "member").await;
        if i < 20 {
            assert_eq!(reply.status, StatusCode::CREATED, "{i}: {}", reply.text);
        } else {
            assert_eq!(
                reply.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{}",
                reply.text
            );
            assert!(reply.headers.get("retry-after").is_some());
        }
    }
    let usage = api
        .get(&format!("/v1/profiles/{pid}/usage"), &owner.session)
        .await;
    assert_eq!(
        usage.json["services"]["emails"]["used"], 20,
        "{}",
        usage.text
    );

    // The next hour, the monthly e-mails limit is what stops them.
    api.app.clock.advance(chrono::Duration::hours(1));
    let session = api.login(&owner.email, PASSWORD).await;
    api.call(
        Method::PUT,
        &format!("/v1/profiles/{pid}/limits"),
        Some(&session),
        Some(json!({"emails": 20})),
    )
    .await;
    let (late, _) = person(&api, "late").await;
    let reply = api
        .post(
            &format!("/v1/profiles/{pid}/team"),
            Some(&session),
            json!({"email": late.email}),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text
    );
    assert_eq!(reply.json["service"], "emails");
}
