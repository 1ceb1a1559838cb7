//! Invitation links: the notifications handler makes each e-mail's secret and stores its hash
//! in the same transaction as the change record's sent-marker.

use crate::app::App;
use crate::catalogue::spelling;
use crate::domain::records::{
    InvitationRecord, InvitationStatus, InvitationTokenRecord, TokenRecord,
};
use crate::domain::tx;
use crate::keys;
use crate::refusal::Decided;
use crate::secrets::SecretKind;
use crate::store::{Condition, Key, Write};

/// What the notifications handler needs to e-mail an invitation: a fresh link secret, stored
/// (hashed) with the invitation's current version in the same transaction as the sent-marker
/// of the change record. Returns `None` when the invitation moved on meanwhile (answered,
/// revoked, resent) or this record was handled before.
pub async fn prepare_link(
    app: &App,
    invitation: &InvitationRecord,
    marker: Write,
) -> Decided<Option<String>> {
    let link = InvitationTokenRecord {
        pid: invitation.pid,
        iid: invitation.iid,
        version: invitation.version,
        expires_at: invitation.expires_at,
        ttl: invitation.expires_at.timestamp(),
    };
    let condition = Condition::All(vec![
        Condition::Equals("status".into(), spelling(&InvitationStatus::Pending).into()),
        Condition::Equals("version".into(), invitation.version.into()),
    ]);
    tx::prepare_link(
        app.table.as_ref(),
        marker,
        (
            SecretKind::Invitation,
            &[invitation.pid, invitation.invitee],
        ),
        &TokenRecord::Invitation(link),
        (
            keys::invitation(invitation.pid, invitation.iid),
            "token_hash",
            condition,
        ),
    )
    .await
}

/// Undoes [`prepare_link`] when the e-mail could not be sent, so a retry prepares it again.
pub async fn unprepare_link(
    app: &App,
    invitation: &InvitationRecord,
    secret: &str,
    marker: Key,
) -> Decided<()> {
    tx::unprepare_link(
        app.table.as_ref(),
        marker,
        secret,
        &keys::invitation(invitation.pid, invitation.iid),
        "token_hash",
    )
    .await
}
