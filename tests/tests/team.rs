//! The team API end to end, on both adapters: invitations, answers, roles, removal, limits.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::json;
use shared::config::Config;
use shared::domain::Role;
use shared::domain::records::InvitationRecord;
use shared::domain::team;
use shared::keys;
use shared::secrets;
use shared::store::Write;
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
    only_the_owner_invites_admins,
    removal_leaving_and_demotion_revoke_the_invitations_sent,
    removed_members_tokens_are_deleted_and_never_come_back,
    invitations_are_capped_per_sending_account_across_profiles,
    an_invitation_read_ahead_by_its_e_mail_answers_as_before,
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
    // The member's token went with the membership.
    assert_eq!(
        api.get(&profile_path, &token).await.status,
        StatusCode::UNAUTHORIZED
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

async fn accept(api: &Api, iid: &str, who: &Person) -> Reply {
    api.call(
        Method::POST,
        &format!("/v1/invitations/{iid}/accept"),
        Some(&who.session),
        None,
    )
    .await
}

/// The status of invitation `iid` in the team list.
async fn status_of(api: &Api, pid: uuid::Uuid, owner: &Person, iid: &str) -> String {
    let team = api
        .get(&format!("/v1/profiles/{pid}/team"), &owner.session)
        .await;
    team.json["invitations"]
        .as_array()
        .expect("invitations")
        .iter()
        .find(|i| i["id"] == iid)
        .and_then(|i| i["status"].as_str())
        .unwrap_or_else(|| panic!("no invitation {iid} in {}", team.text))
        .to_owned()
}

/// Prepares invitation `iid`'s e-mail link, as the notifications handler does; returns its
/// secret.
async fn link_of(api: &Api, pid: uuid::Uuid, iid: &str) -> String {
    let iid: uuid::Uuid = iid.parse().expect("an id");
    let item = api
        .app
        .table
        .get(&keys::invitation(pid, iid))
        .await
        .expect("read")
        .expect("the invitation");
    let invitation: InvitationRecord = keys::from_item(item).expect("a record");
    let marker = keys::notification_marker(&format!("test-{iid}"));
    let mut marker_item = shared::store::Item::new();
    marker_item.insert("PK".into(), marker.pk.clone().into());
    marker_item.insert("SK".into(), marker.sk.clone().into());
    team::prepare_link(&api.app, &invitation, Write::put(marker_item))
        .await
        .expect("prepared")
        .expect("a link")
}

async fn only_the_owner_invites_admins(api: Api) {
    let (owner, guest, pid) = setup(&api).await;
    let (admin, _) = person(&api, "admin").await;
    join(&api, pid, &admin, Role::Admin).await;
    let refused = api
        .assert_writes_nothing("an admin inviting an admin", || {
            invite(&api, pid, &admin, &guest.email, "admin")
        })
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.problem(), "forbidden");
    // Members, yes.
    let member = invite(&api, pid, &admin, &guest.email, "member").await;
    assert_eq!(member.status, StatusCode::CREATED, "{}", member.text);
    // The owner's admin invitation cannot be re-sent by an admin either.
    let (other, _) = person(&api, "other").await;
    let by_owner = invite(&api, pid, &owner, &other.email, "admin").await;
    assert_eq!(by_owner.status, StatusCode::CREATED, "{}", by_owner.text);
    let resend = format!(
        "/v1/profiles/{pid}/invitations/{}/resend",
        by_owner.str("id")
    );
    let refused = api
        .assert_writes_nothing("an admin re-sending an admin invitation", || {
            api.post(&resend, Some(&admin.session), json!({}))
        })
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let resent = api.post(&resend, Some(&owner.session), json!({})).await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.text);
}

async fn removal_leaving_and_demotion_revoke_the_invitations_sent(api: Api) {
    let (owner, _, pid) = setup(&api).await;
    let (ann, _) = person(&api, "ann").await;
    let (bob, _) = person(&api, "bob").await;
    let (cat, _) = person(&api, "cat").await;
    for admin in [&ann, &bob, &cat] {
        join(&api, pid, admin, Role::Admin).await;
    }
    let mut invitees = Vec::new();
    for label in ["x", "y", "z", "w"] {
        invitees.push(person(&api, label).await.0);
    }
    let (x, y, z, w) = (&invitees[0], &invitees[1], &invitees[2], &invitees[3]);
    // Ann sends two (one with its e-mail link prepared), Bob one, Cat one; the owner one.
    let ann_x = invite(&api, pid, &ann, &x.email, "member").await.str("id");
    let ann_y = invite(&api, pid, &ann, &y.email, "member").await.str("id");
    let link = link_of(&api, pid, &ann_x).await;
    let bob_z = invite(&api, pid, &bob, &z.email, "member").await.str("id");
    let cat_w = invite(&api, pid, &cat, &w.email, "member").await.str("id");
    let (own_guest, _) = person(&api, "guest2").await;
    let owners = invite(&api, pid, &owner, &own_guest.email, "member")
        .await
        .str("id");

    // Removed: Ann's pending invitations end revoked, in the same change.
    let removed = api
        .delete(
            &format!("/v1/profiles/{pid}/team/{}", ann.aid),
            &owner.session,
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    for iid in [&ann_x, &ann_y] {
        assert_eq!(status_of(&api, pid, &owner, iid).await, "revoked");
    }
    assert_eq!(accept(&api, &ann_x, x).await.status, StatusCode::CONFLICT);
    // The link is gone, and answering with it is refused.
    let digest = secrets::digest(&link);
    assert!(
        api.app
            .table
            .get(&keys::token(&digest))
            .await
            .expect("read")
            .is_none(),
        "the link's token item is gone"
    );
    let by_link = api
        .post(
            &format!("/v1/invitations/{ann_x}/accept"),
            None,
            json!({"token": link}),
        )
        .await;
    assert!(
        by_link.status.is_client_error() && by_link.status != StatusCode::OK,
        "{}",
        by_link.text
    );
    let x_profiles = api.get("/v1/profiles", &x.session).await;
    assert!(!x_profiles.text.contains(&pid.to_string()));
    // The markers are gone: the owner can invite them again at once.
    let again = invite(&api, pid, &owner, &y.email, "member").await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    // Nobody else's invitations moved.
    assert_eq!(status_of(&api, pid, &owner, &bob_z).await, "pending");
    assert_eq!(status_of(&api, pid, &owner, &owners).await, "pending");

    // Demoted: Bob's pending invitation is revoked with the role change.
    let demoted = api
        .patch(
            &format!("/v1/profiles/{pid}/team/{}", bob.aid),
            &owner.session,
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.text);
    assert_eq!(status_of(&api, pid, &owner, &bob_z).await, "revoked");
    assert_eq!(accept(&api, &bob_z, z).await.status, StatusCode::CONFLICT);

    // Leaving: Cat's pending invitation goes with Cat.
    let left = api
        .delete(
            &format!("/v1/profiles/{pid}/team/{}", cat.aid),
            &cat.session,
            None,
        )
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.text);
    assert_eq!(status_of(&api, pid, &owner, &cat_w).await, "revoked");
    assert_eq!(accept(&api, &cat_w, w).await.status, StatusCode::CONFLICT);
    assert_eq!(status_of(&api, pid, &owner, &owners).await, "pending");
    // The owner's own invitation is untouched and still works.
    assert_eq!(
        accept(&api, &owners, &own_guest).await.status,
        StatusCode::OK
    );
}

async fn tokens_used(api: &Api, pid: uuid::Uuid, owner: &Person) -> i64 {
    let usage = api
        .get(&format!("/v1/profiles/{pid}/usage"), &owner.session)
        .await;
    usage.json["services"]["tokens"]["used"]
        .as_i64()
        .unwrap_or_else(|| panic!("{}", usage.text))
}

async fn removed_members_tokens_are_deleted_and_never_come_back(api: Api) {
    let (owner, guest, pid) = setup(&api).await;
    let iid = invite(&api, pid, &owner, &guest.email, "admin")
        .await
        .str("id");
    assert_eq!(accept(&api, &iid, &guest).await.status, StatusCode::OK);
    let tokens_path = format!("/v1/profiles/{pid}/tokens");
    let issue = || {
        api.post(
            &tokens_path,
            Some(&guest.session),
            json!({"name": "t", "permission": "full", "expires_in": "1 day", "password": PASSWORD}),
        )
    };
    let tokens = [issue().await.str("token"), issue().await.str("token")];
    // The owner's own token stays.
    let owners = api
        .post(
            &format!("/v1/profiles/{pid}/tokens"),
            Some(&owner.session),
            json!({"name": "mine", "permission": "read", "expires_in": "1 day", "password": PASSWORD}),
        )
        .await
        .str("token");
    let profile_path = format!("/v1/profiles/{pid}");
    for token in &tokens {
        assert_eq!(api.get(&profile_path, token).await.status, StatusCode::OK);
    }
    let before = tokens_used(&api, pid, &owner).await;
    assert_eq!(before, 3);

    let removed = api
        .delete(
            &format!("/v1/profiles/{pid}/team/{}", guest.aid),
            &owner.session,
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    assert_eq!(tokens_used(&api, pid, &owner).await, before - 2);
    for token in &tokens {
        assert_eq!(
            api.get(&profile_path, token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(api.get(&profile_path, &owners).await.status, StatusCode::OK);
    let listed = api
        .get(&format!("/v1/profiles/{pid}/tokens"), &owner.session)
        .await;
    assert_eq!(
        listed.json["tokens"].as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.text
    );

    // Rejoining brings none of them back.
    let iid = invite(&api, pid, &owner, &guest.email, "admin")
        .await
        .str("id");
    assert_eq!(accept(&api, &iid, &guest).await.status, StatusCode::OK);
    for token in &tokens {
        assert_eq!(
            api.get(&profile_path, token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(tokens_used(&api, pid, &owner).await, 1);

    // Leaving takes a member's tokens the same way.
    let again = issue().await.str("token");
    assert_eq!(tokens_used(&api, pid, &owner).await, 2);
    let left = api
        .delete(
            &format!("/v1/profiles/{pid}/team/{}", guest.aid),
            &guest.session,
            None,
        )
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.text);
    assert_eq!(tokens_used(&api, pid, &owner).await, 1);
    assert_eq!(
        api.get(&profile_path, &again).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn invitations_are_capped_per_sending_account_across_profiles(api: Api) {
    let api = Api::with_config(
        api.app.table.clone(),
        Config {
            invitations_per_account_per_day: 3,
            ..Config::default()
        },
    );
    let (owner, _, first) = setup(&api).await;
    let second = profile(&api, &owner, "Second").await;
    let mut people = Vec::new();
    for i in 0..5 {
        people.push(person(&api, &format!("c{i}")).await.0);
    }
    for (pid, invitee) in [
        (first, &people[0]),
        (first, &people[1]),
        (second, &people[2]),
    ] {
        let reply = invite(&api, pid, &owner, &invitee.email, "member").await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    }
    // The fourth of the day, on either profile, is refused and changes nothing.
    for pid in [second, first] {
        let refused = api
            .assert_unchanged("the fourth invitation of the day", || {
                invite(&api, pid, &owner, &people[3].email, "member")
            })
            .await;
        assert_eq!(
            refused.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            refused.text
        );
        assert_eq!(refused.problem(), "too-many-attempts");
        let retry: u64 = refused.headers["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!(retry > 0 && retry <= 24 * 3600, "{retry}");
    }
    // A resend is a sending too.
    let team = api
        .get(&format!("/v1/profiles/{first}/team"), &owner.session)
        .await;
    let iid = team.json["invitations"][0]["id"].as_str().expect("an id");
    let resend = api
        .post(
            &format!("/v1/profiles/{first}/invitations/{iid}/resend"),
            Some(&owner.session),
            json!({}),
        )
        .await;
    assert_eq!(
        resend.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        resend.text
    );
    // Another account is not affected.
    let (other, _, other_pid) = setup(&api).await;
    let reply = invite(&api, other_pid, &other, &people[4].email, "member").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    // The next day, the owner may send again.
    api.app.clock.advance(chrono::Duration::days(1));
    let session = api.login(&owner.email, PASSWORD).await;
    let reply = api
        .post(
            &format!("/v1/profiles/{second}/team"),
            Some(&session),
            json!({"email": people[3].email}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

/// `POST …/team` reads the invitee's claim ahead, by the e-mail its body names
/// (`Route::reads_ahead_by_email`): the body is read before the caller is cleared, and handed
/// on unchanged, so whatever is wrong with it is answered as before, and nothing is written.
async fn an_invitation_read_ahead_by_its_e_mail_answers_as_before(api: Api) {
    let (owner, guest, pid) = setup(&api).await;
    let (stranger, _) = person(&api, "stranger").await;
    let path = format!("/v1/profiles/{pid}/team");
    let raw = |session: &str, body: String| {
        http::Request::builder()
            .method(Method::POST)
            .uri(&path)
            .header("authorization", format!("Bearer {session}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .expect("a request")
    };
    let big = json!({"email": guest.email, "role": "member", "pad": "y".repeat(70 * 1024)});
    let cases = [
        (&owner, big.to_string(), 413, "body-too-large"),
        (
            &owner,
            format!("{{\"email\": \"{}\"", guest.email),
            400,
            "malformed-json",
        ),
        (&owner, json!({"email": 5}).to_string(), 422, "invalid-body"),
        (
            &owner,
            json!({"email": "not an e-mail"}).to_string(),
            422,
            "validation-failed",
        ),
        // Another tenant's owner: the claim it named is read, and never answered.
        (
            &stranger,
            json!({"email": guest.email}).to_string(),
            404,
            "not-found",
        ),
    ];
    for (who, body, status, kind) in cases {
        let reply = api
            .assert_writes_nothing(kind, || api.send(raw(&who.session, body)))
            .await;
        assert_eq!(reply.status.as_u16(), status, "{kind}: {}", reply.text);
        assert_eq!(reply.problem(), kind, "{}", reply.text);
    }
    // The same body, well formed, from the owner: the claim read ahead serves the handler.
    let before = api.calls();
    let sent = api
        .send(raw(
            &owner.session,
            json!({"email": guest.email, "role": "member"}).to_string(),
        ))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let made = api.calls().since(&before);
    assert_eq!(made.steps, 2, "the reads, then the transaction: {made:?}");
    assert_eq!(sent.str("email"), guest.email);
}
