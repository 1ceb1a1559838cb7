//! Profiles: create, list, read, rename / logo, delete with everything under them.

use uuid::Uuid;

use super::audit::{Audit, Scope};
use super::credentials;
use super::due;
use super::membership;
use super::records::{
    AccountRecord, Action, InvitationRecord, MemberRecord, MembershipRecord, PendingPurge,
    ProfileRecord, Role, Target, TokenRecord,
};
use super::tx::Tx;
use super::usage::allocation::{self, ALLOCATION_TRIES};
use super::validate;
use crate::app::App;
use crate::catalogue::{Amounts, Service};
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Condition, Key, MAX_TRANSACTION_WRITES, Query, Update, Write, query_all};

/// The writes that create `profile` owned by `owner` (the profile and both membership items).
pub fn creation_writes(owner: &AccountRecord, profile: &ProfileRecord) -> Decided<Tx> {
    let mut tx = Tx::new();
    tx.add(Write::put_new(keys::to_item(
        &keys::profile(profile.pid),
        profile,
    )?))
    .append(membership::joining_writes(
        owner,
        profile,
        Role::Owner,
        profile.created_at,
    )?);
    Ok(tx)
}

/// A profile as seen by one caller.
pub struct ProfileView {
    pub profile: ProfileRecord,
    pub role: Role,
    /// Services the pool could not fully cover when the profile was created.
    pub short: Vec<Service>,
}

/// A new profile of `owner`, allocated the included services as far as the pool covers them.
pub fn new_profile(
    app: &App,
    owner: &AccountRecord,
    name: String,
    logo_url: Option<String>,
) -> ProfileView {
    let (given, short) =
        allocation::included_allocation(&app.config.included, &owner.pool(), &owner.allocated());
    let mut profile = ProfileRecord {
        pid: Uuid::now_v7(),
        name,
        logo_url,
        owner: owner.aid,
        created_at: app.now(),
        policy_version: 0,
        meters: Default::default(),
    };
    given.write(&mut profile.meters, Service::limit_attr);
    ProfileView {
        profile,
        role: Role::Owner,
        short,
    }
}

pub async fn create(
    app: &App,
    aid: Uuid,
    name: &str,
    logo_url: Option<&str>,
    by: &Audit,
) -> Decided<ProfileView> {
    let name = validate::name("name", name)?;
    let logo_url = logo_url
        .map(|url| validate::http_url("logo_url", url))
        .transpose()?;
    for _ in 0..ALLOCATION_TRIES {
        let owner = credentials::load(app, aid).await?;
        let view = new_profile(app, &owner, name.clone(), logo_url.clone());
        let given = view.profile.limits();
        let mut tx = creation_writes(&owner, &view.profile)?;
        tx.add(allocation::allocation_write(
            &owner,
            &given,
            Update::new().add("profile_count", 1),
        ));
        let pid = view.profile.pid;
        let fields: &[&str] = if logo_url.is_some() {
            &["name", "logo_url"]
        } else {
            &["name"]
        };
        tx.add(by.write(
            app.now(),
            Scope::Profile(pid),
            Action::ProfileCreated,
            Target::new("profile", pid),
            fields,
        )?);
        match tx.commit(app.table.as_ref()).await {
            Ok(()) => return Ok(view),
            // Another allocation took from the pool meanwhile: read it again.
            Err(Refusal::Contended(_)) => continue,
            Err(refusal) => return Err(refusal),
        }
    }
    Err(Refusal::Conflict(
        "the account's pool kept changing; try again".into(),
    ))
}

/// The profiles `aid` owns or belongs to, each with its role: one query.
pub async fn list(app: &App, aid: Uuid) -> Decided<Vec<MembershipRecord>> {
    membership::profiles_of(app, aid).await
}

pub async fn get(app: &App, pid: Uuid) -> Decided<ProfileRecord> {
    match app.table.get(&keys::profile(pid)).await? {
        Some(item) => Ok(keys::from_item(item)?),
        None => Err(Refusal::not_found()),
    }
}

/// What a PATCH may change; `logo_url: Some(None)` clears the logo.
pub struct ProfileChanges {
    pub name: Option<String>,
    pub logo_url: Option<Option<String>>,
}

/// Renames the profile and/or changes its logo, on the profile and on every member's copy, in
/// one transaction.
pub async fn update(
    app: &App,
    current: &ProfileRecord,
    changes: ProfileChanges,
    by: &Audit,
) -> Decided<ProfileRecord> {
    let pid = current.pid;
    let name = changes
        .name
        .map(|name| validate::name("name", &name))
        .transpose()?;
    let logo_url = changes
        .logo_url
        .map(|logo| {
            logo.map(|url| validate::http_url("logo_url", &url))
                .transpose()
        })
        .transpose()?;
    let mut update = Update::new();
    let mut copy = Update::new();
    let mut fields = Vec::new();
    if name.is_some() {
        fields.push("name");
    }
    if logo_url.is_some() {
        fields.push("logo_url");
    }
    if let Some(name) = &name {
        update = update.set("name", name.clone());
        copy = copy.set("profile_name", name.clone());
    }
    if let Some(logo_url) = &logo_url {
        let value = serde_json::to_value(logo_url).map_err(|_| Refusal::Internal)?;
        update = update.set("logo_url", value.clone());
        copy = copy.set("logo_url", value);
    }
    if update.is_empty() {
        return Ok(current.clone());
    }
    let members = team(app, pid).await?;
    // The profile, each member's copy and the audit entry.
    if members.len() + 2 > MAX_TRANSACTION_WRITES {
        return Err(Refusal::Conflict(
            "the team is too large to rename at once".into(),
        ));
    }
    let changed = Refusal::Conflict("the profile changed meanwhile; try again".into());
    let mut tx = Tx::new();
    tx.add_or(
        Write::Update {
            key: keys::profile(pid),
            update,
            condition: Some(Condition::Exists),
        },
        changed.clone(),
    );
    for member in &members {
        tx.add_or(
            Write::Update {
                key: keys::account_member(member.aid, pid),
                update: copy.clone(),
                condition: Some(Condition::Exists),
            },
            changed.clone(),
        );
    }
    tx.add(by.write(
        app.now(),
        Scope::Profile(pid),
        Action::ProfileUpdated,
        Target::new("profile", pid),
        &fields,
    )?);
    tx.commit(app.table.as_ref()).await?;
    let mut updated = current.clone();
    if let Some(name) = name {
        updated.name = name;
    }
    if let Some(logo_url) = logo_url {
        updated.logo_url = logo_url;
    }
    Ok(updated)
}

/// The profile's members (one query).
pub async fn team(app: &App, pid: Uuid) -> Decided<Vec<MemberRecord>> {
    membership::members_of(app, pid).await
}

/// Deletes the profile, once the owner re-entered the password, in one transaction: the profile
/// goes (from then on it exists for no one: every access reads it), its limits go back to the
/// owner's pool, the owner's own membership goes (its list no longer shows it), and a pending
/// purge is written, which the stream turns into the removal of everything under the profile
/// ([`purge`]; a scheduled sweep finishes any it missed). The account's last profile cannot be
/// deleted.
pub async fn delete(
    app: &App,
    owner: Uuid,
    profile: &ProfileRecord,
    password: &str,
    by: &Audit,
) -> Decided<()> {
    let pid = profile.pid;
    let account = credentials::load(app, owner).await?;
    let passed = credentials::check_password(app, &account, password).await?;
    // First the profile itself, guarded (by its owner, and by its limits being the ones given
    // back to the pool): from this write on it no longer exists for anyone.
    let limits = profile.limits();
    let mut unchanged = vec![Condition::Equals("owner".into(), owner.to_string().into())];
    unchanged.extend(
        Service::ALL
            .into_iter()
            .map(|s| Condition::Equals(s.limit_attr(), limits.get(s).into())),
    );
    let mut back = Amounts::default();
    for service in Service::ALL {
        back.set(service, -limits.get(service));
    }
    let mut tx = Tx::new();
    passed.guard(&mut tx);
    tx.add_or(
        Write::Delete {
            key: keys::profile(pid),
            condition: Some(Condition::All(unchanged)),
        },
        Refusal::not_found(),
    )
    .add_or(
        Write::Update {
            key: keys::account(owner),
            update: allocation::allocation_update(&back).add("profile_count", -1),
            condition: Some(Condition::AtLeast("profile_count".into(), 2)),
        },
        Refusal::Conflict("the last profile of an account cannot be deleted".into()),
    )
    .add(pending_purge(app, pid)?)
    .add(Write::delete(keys::account_member(owner, pid)))
    // The profile's own log goes with it: the deletion is recorded in its owner's.
    .add(by.write(
        app.now(),
        Scope::Account(owner),
        Action::ProfileDeleted,
        Target::new("profile", pid),
        &[],
    )?);
    tx.commit(app.table.as_ref()).await?;
    // What this process counted for it is dropped now: a batch flushed after the purge would
    // write the profile's usage item again (the purge forgets it too, in its own process).
    app.meter.forget(pid);
    Ok(())
}

/// The pending purge of `pid`, to write in the transaction that deletes the profile.
pub fn pending_purge(app: &App, pid: Uuid) -> Decided<Write> {
    Ok(Write::put(keys::to_item(
        &keys::pending_purge(pid),
        &PendingPurge {
            pid,
            since: app.now(),
        },
    )?))
}

/// Finishes the purge of `pid` if it is still pending (what the stream does with a pending
/// purge, and what a sweep of them does).
pub async fn finish_purge(app: &App, pid: Uuid) -> Decided<()> {
    if app.table.get(&keys::pending_purge(pid)).await?.is_some() {
        purge(app, pid).await?;
    }
    Ok(())
}

/// Finishes every pending purge (for a scheduled sweep, and for tests that run without a
/// stream); returns how many it finished.
pub async fn finish_pending_purges(app: &App) -> Decided<usize> {
    let pending = query_all(app.table.as_ref(), Query::partition(keys::PURGES)).await?;
    let mut finished = 0;
    for item in pending {
        let pending: PendingPurge = keys::from_item(item)?;
        purge(app, pending.pid).await?;
        finished += 1;
    }
    Ok(finished)
}

/// Removes every item that belongs to a deleted profile: its whole partition, and what lives
/// outside it (each member's account-side membership, the profile's API tokens), then its
/// pending purge. Safe to run again, and to run twice at once: it only deletes.
pub async fn purge(app: &App, pid: Uuid) -> Decided<()> {
    app.meter.forget(pid);
    let items = query_all(
        app.table.as_ref(),
        Query::partition(keys::profile_partition(pid)),
    )
    .await?;
    let tokens = query_all(app.table.as_ref(), Query::gsi1(keys::profile_tokens(pid))).await?;
    let mut doomed: Vec<Key> = tokens.iter().filter_map(Key::of).collect();
    // The due markers the purge can name (ids and times only; the rest are found moot).
    for token in tokens {
        if let TokenRecord::Profile(token) = keys::from_item(token)? {
            doomed.extend(
                token
                    .expires_at
                    .map(|at| due::token_warning_keys(token.tid, token.created_at, at))
                    .unwrap_or_default(),
            );
        }
    }
    for item in &items {
        let Some(key) = Key::of(item) else { continue };
        if key.sk.starts_with(keys::MEMBER_PREFIX) {
            let member: MemberRecord = keys::from_item(item.clone())?;
            doomed.push(keys::account_member(member.aid, pid));
        }
        if key.sk.starts_with(keys::INVITE_PREFIX) {
            let invitation: InvitationRecord = keys::from_item(item.clone())?;
            doomed.extend(invitation.token_hash.map(|hash| keys::token(&hash)));
            doomed.push(due::invitation_expiry_key(
                invitation.iid,
                invitation.expires_at,
            ));
        }
        doomed.push(key);
    }
    for chunk in doomed.chunks(MAX_TRANSACTION_WRITES) {
        let writes = chunk.iter().cloned().map(Write::delete).collect();
        app.table.transact(writes).await?;
    }
    app.table.delete(&keys::pending_purge(pid), None).await?;
    Ok(())
}
