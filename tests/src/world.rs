//! A small multi-tenant world, built straight through the domain (no password hashing per
//! account or run user), so a test can afford a fresh one per case: tenant A (owner, admin,
//! member of profile `pid`, tokens of every kind on it, run users of its application) and
//! tenant B (the same on `other_pid`).

use std::sync::OnceLock;

use shared::domain::Role;
use shared::domain::access::{Principal, ProfileCaller};
use shared::domain::records::{
    InvitationRecord, Permission, RunSessionRecord, SignupSettings, TokenRecord,
};
use shared::domain::run_users::{self, NewRunUser};
use shared::domain::tokens;
use shared::domain::{accounts, credentials, membership};
use shared::email::Email;
use shared::keys;
use shared::store::{Item, Key, Query, Write, query_all};
use uuid::Uuid;

use crate::api::{Api, PASSWORD};

/// One account of the world, with a login session.
#[derive(Clone, Debug)]
pub struct Person {
    pub aid: Uuid,
    pub email: String,
    pub session: String,
}

#[derive(Clone, Debug)]
pub struct World {
    pub owner: Person,
    pub admin: Person,
    pub member: Person,
    /// Tenant A's profile, the one every route is aimed at.
    pub pid: Uuid,
    /// The owner's first profile (so `pid` is never the last one).
    pub spare_pid: Uuid,
    pub full: String,
    pub write: String,
    pub read: String,
    pub expired: String,
    pub revoked: String,
    /// A token of the owner's on `pid`, for routes that name a token.
    pub victim_tid: Uuid,
    /// A pending invitation of `pid` (to `invitee`), and an account that may be invited.
    pub iid: Uuid,
    pub invitee: Person,
    pub candidate: Person,
    pub other_owner: Person,
    pub other_admin: Person,
    pub other_member: Person,
    pub other_pid: Uuid,
    pub other_full: String,
    pub other_write: String,
    pub other_read: String,
    /// The principals of issue 9's review, beside the first fifteen.
    pub more: MorePrincipals,
    /// Run users of `pid` and `other_pid`.
    pub run: RunPrincipals,
    /// A policy of `pid`, the one `{id}` names.
    pub policy_id: Uuid,
}

/// A run user of a profile's application, with a session; its password is [`PASSWORD`].
#[derive(Clone, Debug)]
pub struct RunPerson {
    pub uid: Uuid,
    pub email: String,
    pub session: String,
}

/// The run users of the world. `pid` has sign-up open (so a sign-up succeeds); `other_pid`
/// keeps it closed, as every profile starts.
#[derive(Clone, Debug)]
pub struct RunPrincipals {
    /// A run user of `pid`: the `run_user` principal (its session), whose e-mail and password
    /// log in on `pid`.
    pub user: RunPerson,
    /// Another run user of `pid`, the one `{uid}` names (so editing, deleting or setting the
    /// password of `{uid}` never ends the `run_user` principal's session).
    pub target_uid: Uuid,
    /// A run user of `other_pid`: the `other_run_user` principal.
    pub other_user: RunPerson,
}

/// Principals that test what a role, a removal, a logout or an invitation link may reach.
#[derive(Clone, Debug)]
pub struct MorePrincipals {
    /// Full tokens of `pid` created by its admin and by its member.
    pub admin_token: String,
    pub member_token: String,
    /// A former member of `pid` (removed by the owner): its session, and the full token it had.
    pub removed: Person,
    pub removed_token: String,
    /// Sessions of the owner that logged out, and that expired.
    pub logged_out: String,
    pub expired_session: String,
    /// The owner's full token for its other profile (`spare_pid`).
    pub owner_elsewhere: String,
    /// Invitation links for `iid`: the current one, the one a resend replaced, and the link of
    /// another pending invitation of `pid`.
    pub link: String,
    pub stale_link: String,
    pub other_link: String,
    /// An invitation of `pid` past its expiry, and a revoked one, each with the link it had.
    pub expired_iid: Uuid,
    pub expired_link: String,
    pub revoked_iid: Uuid,
    pub revoked_link: String,
}

/// The principals of the authorization matrix, in its column order.
pub const PRINCIPALS: [&str; 32] = [
    "anonymous",
    "other_owner",
    "other_admin",
    "other_member",
    "other_full",
    "other_write",
    "other_read",
    "owner",
    "admin",
    "member",
    "full",
    "write",
    "read",
    "expired",
    "revoked",
    "admin_token",
    "member_token",
    "removed",
    "removed_token",
    "logged_out",
    "expired_session",
    "owner_elsewhere",
    "other_own_pid",
    "invitee",
    "link",
    "stale_link",
    "other_link",
    "expired_link",
    "revoked_link",
    "owner_exhausted",
    "run_user",
    "other_run_user",
];

async fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    if let Some(hash) = HASH.get() {
        return hash.clone();
    }
    let hash = shared::password::hash(PASSWORD.to_owned(), shared::password::Cost::OWASP)
        .await
        .expect("hash");
    HASH.get_or_init(|| hash).clone()
}

fn unique_email(label: &str) -> String {
    format!("{label}-{}@example.com", Uuid::now_v7().simple())
}

/// Creates an account (with its first profile) without hashing a password, and a session.
pub async fn person(api: &Api, label: &str) -> (Person, Uuid) {
    let (account, first) = accounts::create_account(
        &api.app,
        Email::parse(&unique_email(label)).expect("an address"),
        label.to_owned(),
        password_hash().await,
    )
    .await
    .expect("create account");
    mark_verified(api, account.aid).await;
    let session = credentials::open_session(&api.app, account.aid)
        .await
        .expect("session");
    (
        Person {
            aid: account.aid,
            email: account.email.to_string(),
            session: session.token,
        },
        first.profile.pid,
    )
}

/// Marks the e-mail of `aid` verified, as its verification link would (fixtures only: the
/// link itself is tested in `tests/tests/recovery.rs`).
pub async fn mark_verified(api: &Api, aid: Uuid) {
    api.app
        .table
        .update(
            &shared::keys::account(aid),
            shared::store::Update::new().set("email_verified", true),
            Some(shared::store::Condition::Exists),
        )
        .await
        .expect("verified");
}

/// `owner` cleared for its own `profile`, as the authorization layer would hand it to the
/// domain (for calling domain functions directly).
pub fn owner_of(owner: &Person, profile: shared::domain::records::ProfileRecord) -> ProfileCaller {
    ProfileCaller {
        pid: profile.pid,
        role: Role::Owner,
        principal: Principal::Account {
            aid: owner.aid,
            token_digest: String::new(),
        },
        profile,
    }
}

/// Makes `who` a member of `owner`'s profile `pid` with `role`.
pub async fn join(api: &Api, pid: Uuid, who: &Person, role: Role) {
    let account = credentials::load(&api.app, who.aid).await.expect("account");
    let profile = shared::domain::profiles::get(&api.app, pid)
        .await
        .expect("profile");
    membership::joining_writes(&account, &profile, role, api.app.now())
        .expect("writes")
        .commit(api.app.table.as_ref())
        .await
        .expect("join");
}

/// A new profile owned by `owner`.
pub async fn profile(api: &Api, owner: &Person, name: &str) -> Uuid {
    shared::domain::profiles::create(
        &api.app,
        owner.aid,
        name,
        None,
        &shared::domain::audit::Audit::system(),
    )
    .await
    .expect("profile")
    .profile
    .pid
}

pub async fn token(
    api: &Api,
    pid: Uuid,
    creator: &Person,
    permission: Permission,
) -> (Uuid, String) {
    let expires = api.app.now() + chrono::Duration::days(1);
    let profile = shared::domain::profiles::get(&api.app, pid)
        .await
        .expect("profile");
    let (record, secret) = tokens::create(
        &api.app,
        &profile,
        creator.aid,
        "test".into(),
        permission,
        Some(expires),
        &shared::domain::audit::Audit::system(),
    )
    .await
    .expect("token");
    (record.tid, secret)
}

/// A policy of `pid` for the run users tagged `team: eng`, allowing `access` to devices.
async fn policy(api: &Api, pid: Uuid) -> Uuid {
    let profile = shared::domain::profiles::get(&api.app, pid)
        .await
        .expect("profile");
    let body = serde_json::from_value(serde_json::json!({
        "name": "Engineers",
        "targets": [{"tag": {"key": "team", "value": "eng"}}],
        "permissions": [{"effect": "allow", "actions": ["access"], "resources": [{"type": "device"}]}],
    }))
    .expect("a policy body");
    shared::domain::policy_set::create(
        &api.app,
        &profile,
        body,
        &shared::domain::audit::Audit::system(),
    )
    .await
    .expect("policy")
    .id
}

impl World {
    pub async fn build(api: &Api) -> World {
        let (owner, spare_pid) = person(api, "owner").await;
        let (admin, _) = person(api, "admin").await;
        let (member, _) = person(api, "member").await;
        let pid = profile(api, &owner, "Target").await;
        join(api, pid, &admin, Role::Admin).await;
        join(api, pid, &member, Role::Member).await;
        let (_, full) = token(api, pid, &owner, Permission::Full).await;
        let (_, write) = token(api, pid, &owner, Permission::Write).await;
        let (_, read) = token(api, pid, &owner, Permission::Read).await;
        let (victim_tid, _) = token(api, pid, &owner, Permission::Read).await;
        let profile = shared::domain::profiles::get(&api.app, pid)
            .await
            .expect("profile");
        let (_, expired) = tokens::create(
            &api.app,
            &profile,
            owner.aid,
            "expired".into(),
            Permission::Full,
            Some(api.app.now() - chrono::Duration::minutes(1)),
            &shared::domain::audit::Audit::system(),
        )
        .await
        .expect("token");
        let (revoked_tid, revoked) = token(api, pid, &owner, Permission::Full).await;
        let item = api
            .app
            .table
            .query(Query::gsi1(keys::profile_tokens(pid)).prefix(keys::token_index_sk(revoked_tid)))
            .await
            .expect("query");
        let key = Key::of(&item.items[0]).expect("key");
        api.app.table.delete(&key, None).await.expect("revoke");

        let (invitee, _) = person(api, "invitee").await;
        let (candidate, _) = person(api, "candidate").await;
        let target = shared::domain::profiles::get(&api.app, pid)
            .await
            .expect("profile");
        let caller = owner_of(&owner, target);
        let iid = shared::domain::team::invite(
            &api.app,
            &caller,
            &invitee.email,
            Role::Member,
            &shared::domain::audit::Audit::system(),
        )
        .await
        .expect("invite")
        .iid;

        let (other_owner, other_pid) = person(api, "other-owner").await;
        let (other_admin, _) = person(api, "other-admin").await;
        let (other_member, _) = person(api, "other-member").await;
        join(api, other_pid, &other_admin, Role::Admin).await;
        join(api, other_pid, &other_member, Role::Member).await;
        let (_, other_full) = token(api, other_pid, &other_owner, Permission::Full).await;
        let (_, other_write) = token(api, other_pid, &other_owner, Permission::Write).await;
        let (_, other_read) = token(api, other_pid, &other_owner, Permission::Read).await;
        let more = MorePrincipals::build(api, &owner, &admin, &member, pid, spare_pid, iid).await;
        let run = RunPrincipals::build(api, pid, other_pid).await;
        let policy_id = policy(api, pid).await;
        World {
            owner,
            admin,
            member,
            pid,
            spare_pid,
            full,
            write,
            read,
            expired,
            revoked,
            victim_tid,
            iid,
            invitee,
            candidate,
            other_owner,
            other_admin,
            other_member,
            other_pid,
            other_full,
            other_write,
            other_read,
            more,
            run,
            policy_id,
        }
    }

    /// The bearer token of a principal of the matrix (`None` for anonymous).
    pub fn token_of(&self, principal: &str) -> Option<String> {
        Some(match principal {
            "anonymous" => return None,
            "other_owner" => self.other_owner.session.clone(),
            "other_admin" => self.other_admin.session.clone(),
            "other_member" => self.other_member.session.clone(),
            "other_full" => self.other_full.clone(),
            "other_write" => self.other_write.clone(),
            "other_read" => self.other_read.clone(),
            "owner" => self.owner.session.clone(),
            "admin" => self.admin.session.clone(),
            "member" => self.member.session.clone(),
            "full" => self.full.clone(),
            "write" => self.write.clone(),
            "read" => self.read.clone(),
            "expired" => self.expired.clone(),
            "revoked" => self.revoked.clone(),
            "admin_token" => self.more.admin_token.clone(),
            "member_token" => self.more.member_token.clone(),
            "removed" => self.more.removed.session.clone(),
            "removed_token" => self.more.removed_token.clone(),
            "logged_out" => self.more.logged_out.clone(),
            "expired_session" => self.more.expired_session.clone(),
            "owner_elsewhere" => self.more.owner_elsewhere.clone(),
            "other_own_pid" => self.other_owner.session.clone(),
            "invitee" => self.invitee.session.clone(),
            "owner_exhausted" => self.owner.session.clone(),
            "run_user" => self.run.user.session.clone(),
            "other_run_user" => self.run.other_user.session.clone(),
            // Links travel in the body, never as a bearer token.
            "link" | "stale_link" | "other_link" | "expired_link" | "revoked_link" => return None,
            other => panic!("unknown principal {other}"),
        })
    }

    /// The invitation link a principal answers with (`{"token": …}`), if any.
    pub fn link_of(&self, principal: &str) -> Option<String> {
        Some(match principal {
            "link" => self.more.link.clone(),
            "stale_link" => self.more.stale_link.clone(),
            "other_link" => self.more.other_link.clone(),
            "expired_link" => self.more.expired_link.clone(),
            "revoked_link" => self.more.revoked_link.clone(),
            _ => return None,
        })
    }

    /// The ids a principal's request names: tenant A's, except where the principal aims
    /// elsewhere (another tenant's own profile with A's ids under it, `{uid}` included; an
    /// expired or revoked invitation for its link).
    pub fn path_for(&self, principal: &str, template: &str) -> String {
        let pid = if principal == "other_own_pid" {
            self.other_pid
        } else {
            self.pid
        };
        let iid = match principal {
            "expired_link" => self.more.expired_iid,
            "revoked_link" => self.more.revoked_iid,
            _ => self.iid,
        };
        template
            .replace("{pid}", &pid.to_string())
            .replace("{tid}", &self.victim_tid.to_string())
            .replace("{aid}", &self.member.aid.to_string())
            .replace("{iid}", &iid.to_string())
            .replace("{uid}", &self.run.target_uid.to_string())
            .replace("{id}", &self.policy_id.to_string())
    }

    /// Readies the world for a principal before its request: `owner_exhausted` finds the
    /// month's `api_requests` of `pid` used up (management routes must not care; application
    /// routes refuse, 429).
    pub async fn prepare_for(&self, api: &Api, principal: &str) {
        if principal == "owner_exhausted" {
            let profile = shared::domain::profiles::get(&api.app, self.pid)
                .await
                .expect("profile");
            let limit = profile.limit(shared::catalogue::Service::ApiRequests);
            shared::domain::usage::count_monthly(
                &api.app,
                &profile,
                shared::catalogue::Service::ApiRequests,
                limit,
            )
            .await
            .expect("use up api_requests");
        }
    }

    /// Every item of tenant A: its profiles' partitions, its accounts' partitions and its
    /// profile's tokens. Sorted, so two snapshots compare.
    pub async fn tenant_a(&self, api: &Api) -> Vec<Item> {
        let table = api.app.table.as_ref();
        let mut items = Vec::new();
        for pid in [self.pid, self.spare_pid] {
            items.extend(
                query_all(table, Query::partition(keys::profile_partition(pid)))
                    .await
                    .expect("query"),
            );
        }
        for person in [&self.owner, &self.admin, &self.member] {
            items.extend(
                query_all(table, Query::partition(keys::account_partition(person.aid)))
                    .await
                    .expect("query"),
            );
        }
        items.extend(
            query_all(table, Query::gsi1(keys::profile_tokens(self.pid)))
                .await
                .expect("query"),
        );
        items.sort_by_key(Key::of);
        items
    }
}

/// An invitation link for `invitation` as the notifications handler makes it (the sent-marker
/// of a made-up change record stands in for the stream's).
async fn link_for(api: &Api, pid: Uuid, iid: Uuid) -> String {
    let item = api
        .app
        .table
        .get(&keys::invitation(pid, iid))
        .await
        .expect("read invitation")
        .expect("the invitation");
    let invitation: InvitationRecord = keys::from_item(item).expect("an invitation");
    let marker = keys::to_item(
        &keys::notification_marker(&format!("world-{}", Uuid::now_v7())),
        &serde_json::json!({}),
    )
    .expect("marker");
    shared::domain::team::prepare_link(&api.app, &invitation, Write::put_new(marker))
        .await
        .expect("prepare link")
        .expect("a pending invitation")
}

impl MorePrincipals {
    async fn build(
        api: &Api,
        owner: &Person,
        admin: &Person,
        member: &Person,
        pid: Uuid,
        spare_pid: Uuid,
        iid: Uuid,
    ) -> MorePrincipals {
        let (_, admin_token) = token(api, pid, admin, Permission::Full).await;
        let (_, member_token) = token(api, pid, member, Permission::Full).await;
        let (removed, _) = person(api, "removed").await;
        join(api, pid, &removed, Role::Member).await;
        let (_, removed_token) = token(api, pid, &removed, Permission::Full).await;
        let caller = || async {
            owner_of(
                owner,
                shared::domain::profiles::get(&api.app, pid)
                    .await
                    .expect("profile"),
            )
        };
        shared::domain::team::remove(
            &api.app,
            &caller().await,
            removed.aid,
            &shared::domain::audit::Audit::system(),
        )
        .await
        .expect("remove a member");

        let logged_out = credentials::open_session(&api.app, owner.aid)
            .await
            .expect("session")
            .token;
        credentials::logout(&api.app, &shared::secrets::digest(&logged_out))
            .await
            .expect("logout");
        let expired_session = credentials::open_session(&api.app, owner.aid)
            .await
            .expect("session")
            .token;
        let session_key = keys::token(&shared::secrets::digest(&expired_session));
        let past = (api.app.now() - chrono::Duration::minutes(1)).to_rfc3339();
        api.app
            .table
            .update(
                &session_key,
                shared::store::Update::new().set("expires_at", past),
                None,
            )
            .await
            .expect("expire a session");
        let (_, owner_elsewhere) = token(api, spare_pid, owner, Permission::Full).await;

        // The links of `iid`: one sent, then replaced by a resend.
        let stale_link = link_for(api, pid, iid).await;
        shared::domain::team::resend(
            &api.app,
            &caller().await,
            iid,
            &shared::domain::audit::Audit::system(),
        )
        .await
        .expect("resend");
        let link = link_for(api, pid, iid).await;
        let invite = |label: &'static str| async move {
            let (invitee, _) = person(api, label).await;
            shared::domain::team::invite(
                &api.app,
                &caller().await,
                &invitee.email,
                Role::Member,
                &shared::domain::audit::Audit::system(),
            )
            .await
            .expect("invite")
            .iid
        };
        let other_iid = invite("other-invitee").await;
        let other_link = link_for(api, pid, other_iid).await;
        let expired_iid = invite("late-invitee").await;
        let expired_link = link_for(api, pid, expired_iid).await;
        let past = (api.app.now() - chrono::Duration::minutes(1)).to_rfc3339();
        api.app
            .table
            .update(
                &keys::invitation(pid, expired_iid),
                shared::store::Update::new().set("expires_at", past),
                None,
            )
            .await
            .expect("expire an invitation");
        let revoked_iid = invite("revoked-invitee").await;
        let revoked_link = link_for(api, pid, revoked_iid).await;
        shared::domain::team::revoke(
            &api.app,
            &caller().await,
            revoked_iid,
            &shared::domain::audit::Audit::system(),
        )
        .await
        .expect("revoke");
        MorePrincipals {
            admin_token,
            member_token,
            removed,
            removed_token,
            logged_out,
            expired_session,
            owner_elsewhere,
            link,
            stale_link,
            other_link,
            expired_iid,
            expired_link,
            revoked_iid,
            revoked_link,
        }
    }
}

/// A run user of profile `pid` with [`PASSWORD`], and, when `with_session`, a session. Created
/// through the domain without a password (no hash), then given the world's one hash of
/// [`PASSWORD`]; the session's token item is written as a login would write it (a login
/// verifies the password: one argon2 run per user and world).
async fn run_person(api: &Api, pid: Uuid, label: &str, with_session: bool) -> RunPerson {
    let profile = shared::domain::profiles::get(&api.app, pid)
        .await
        .expect("profile");
    let user = run_users::create(
        &api.app,
        &profile,
        NewRunUser {
            email: unique_email(label),
            name: label.to_owned(),
            ..NewRunUser::default()
        },
        &shared::domain::audit::Audit::system(),
    )
    .await
    .expect("create a run user");
    api.app
        .table
        .update(
            &keys::run_user(pid, user.uid),
            shared::store::Update::new().set("password_hash", password_hash().await),
            Some(shared::store::Condition::Exists),
        )
        .await
        .expect("a password");
    let mut session = String::new();
    if with_session {
        session = shared::secrets::generate_claiming(
            shared::secrets::SecretKind::RunUser,
            &[pid, user.uid],
        )
        .expect("secret");
        let now = api.app.now();
        let expires_at = now + chrono::Duration::days(1);
        let record = TokenRecord::RunSession(RunSessionRecord {
            pid,
            uid: user.uid,
            version: user.session_version,
            created_at: now,
            expires_at,
            ttl: expires_at.timestamp(),
        });
        let item = keys::to_item(&keys::token(&shared::secrets::digest(&session)), &record)
            .expect("a session item");
        api.app
            .table
            .put(item, Some(shared::store::Condition::NotExists))
            .await
            .expect("a run-user session");
    }
    RunPerson {
        uid: user.uid,
        email: user.email.to_string(),
        session,
    }
}

impl RunPrincipals {
    async fn build(api: &Api, pid: Uuid, other_pid: Uuid) -> RunPrincipals {
        shared::domain::run_users::signup::save_settings(
            &api.app,
            pid,
            SignupSettings {
                signup_enabled: true,
                fields: Vec::new(),
            },
            &shared::domain::audit::Audit::system(),
        )
        .await
        .expect("open sign-up");
        // The two of `pid` one after the other: each creation writes the profile's gauge, and
        // two transactions on one item at once may both be refused.
        let ((user, target), other_user) = tokio::join!(
            async {
                let user = run_person(api, pid, "run-user", true).await;
                (user, run_person(api, pid, "run-target", false).await)
            },
            run_person(api, other_pid, "other-run-user", true),
        );
        RunPrincipals {
            user,
            target_uid: target.uid,
            other_user,
        }
    }
}
