//! Transactions whose writes say what their failure means. Each write may carry the refusal
//! it stands for (the gauge write carries `limit-reached`, the e-mail claim `conflict`, …);
//! when the store cancels the transaction, [`Tx::commit`] answers with the refusal of the first
//! write that failed, so no caller decodes a refusal by the position of a write.

use super::records::TokenRecord;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::secrets;
use crate::store::{Condition, Key, MAX_TRANSACTION_WRITES, StoreError, Table, Update, Write};

/// The refusal of a write that failed without saying what that means: the state it was
/// guarded against changed meanwhile.
fn changed_meanwhile() -> Refusal {
    Refusal::Contended("the data changed meanwhile; try again".into())
}

/// An all-or-nothing set of writes, each with the refusal it stands for.
#[derive(Debug, Default)]
pub struct Tx {
    writes: Vec<Write>,
    refusals: Vec<Option<Refusal>>,
}

impl Tx {
    pub fn new() -> Self {
        Tx::default()
    }

    /// Adds a write whose failure means only that the state changed meanwhile.
    pub fn add(&mut self, write: Write) -> &mut Self {
        self.writes.push(write);
        self.refusals.push(None);
        self
    }

    /// Adds a write whose failure means `refusal`.
    pub fn add_or(&mut self, write: Write, refusal: Refusal) -> &mut Self {
        self.writes.push(write);
        self.refusals.push(Some(refusal));
        self
    }

    /// Adds each of `writes` (none, for an empty `Option`), whose failure means only that the
    /// state changed meanwhile.
    pub fn add_all(&mut self, writes: impl IntoIterator<Item = Write>) -> &mut Self {
        for write in writes {
            self.add(write);
        }
        self
    }

    /// Adds every write of `other`, with their refusals.
    pub fn append(&mut self, other: Tx) -> &mut Self {
        self.writes.extend(other.writes);
        self.refusals.extend(other.refusals);
        self
    }

    pub fn len(&self) -> usize {
        self.writes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Commits this change together with deletes of `doomed` (those it does not write already),
    /// as many as the transaction has room for: the change and the first deletes land at once.
    /// The rest, if any, follow in further transactions.
    pub async fn commit_deleting(mut self, table: &dyn Table, doomed: Vec<Key>) -> Decided<()> {
        let written: Vec<Key> = self.writes.iter().filter_map(Write::key).collect();
        let mut doomed: Vec<Key> = doomed
            .into_iter()
            .filter(|key| !written.contains(key))
            .collect();
        doomed.dedup();
        let room = MAX_TRANSACTION_WRITES
            .saturating_sub(self.len())
            .min(doomed.len());
        let later = doomed.split_off(room);
        self.add_all(doomed.into_iter().map(Write::delete));
        self.commit(table).await?;
        for chunk in later.chunks(MAX_TRANSACTION_WRITES) {
            table
                .transact(chunk.iter().cloned().map(Write::delete).collect())
                .await?;
        }
        Ok(())
    }

    /// Writes everything or nothing. A cancelled transaction answers with the refusal of the
    /// first failed write that carries one, else [`Refusal::Contended`].
    pub async fn commit(self, table: &dyn Table) -> Decided<()> {
        let Tx { writes, refusals } = self;
        match table.transact(writes).await {
            Ok(()) => Ok(()),
            Err(StoreError::TransactionCancelled { failed }) => Err(failed
                .iter()
                .filter_map(|index| refusals.get(*index).cloned().flatten())
                .next()
                .unwrap_or_else(changed_meanwhile)),
            Err(error) => Err(error.into()),
        }
    }
}

/// A single conditional write (put, update, delete) refused with `refusal` when its condition
/// fails.
pub fn refuse_failed<T>(outcome: Result<T, StoreError>, refusal: Refusal) -> Decided<T> {
    match outcome {
        Ok(value) => Ok(value),
        Err(StoreError::ConditionFailed) => Err(refusal),
        Err(error) => Err(error.into()),
    }
}

/// Prepares a link for an e-mail (invitation, verification, password reset): a fresh secret of
/// `kind` that claims `claim` (`secrets::generate_claiming`), whose token item (`record`) is written in the same transaction as the change
/// record's sent-`marker`, while the item that remembers the link (`holder`) gets its hash in
/// attribute `attr`, guarded by `condition` (the state the e-mail was meant for). Returns the
/// secret, or `None` when the record was handled before or the holder moved on meanwhile.
pub async fn prepare_link(
    table: &dyn Table,
    marker: Write,
    (kind, claim): (secrets::SecretKind, &[uuid::Uuid]),
    record: &TokenRecord,
    (holder, attr, condition): (Key, &str, Condition),
) -> Decided<Option<String>> {
    let secret = secrets::generate_claiming(kind, claim).map_err(|_| Refusal::Internal)?;
    let digest = secrets::digest(&secret);
    let mut tx = Tx::new();
    tx.add(marker)
        .add(Write::put_new(keys::to_item(
            &keys::token(&digest),
            record,
        )?))
        .add(Write::Update {
            key: holder,
            update: Update::new().set(attr, digest),
            condition: Some(condition),
        });
    match tx.commit(table).await {
        Ok(()) => Ok(Some(secret)),
        Err(Refusal::Contended(_)) => Ok(None),
        Err(refusal) => Err(refusal),
    }
}

/// Undoes a link prepared for an e-mail that could not be sent, so a retry prepares it again:
/// the change record's sent-marker and the link's token go, and the item that remembers the link
/// (`holder`, attribute `attr`) forgets its hash unless it already holds another.
pub async fn unprepare_link(
    table: &dyn Table,
    marker: Key,
    secret: &str,
    holder: &Key,
    attr: &str,
) -> Decided<()> {
    let digest = secrets::digest(secret);
    table
        .transact(vec![
            Write::delete(marker),
            Write::delete(keys::token(&digest)),
        ])
        .await?;
    let forget = table
        .update(
            holder,
            Update::new().remove(attr),
            Some(Condition::Equals(attr.into(), digest.into())),
        )
        .await;
    match forget {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(error) => Err(error.into()),
    }
}
