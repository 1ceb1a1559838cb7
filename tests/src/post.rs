//! The notifications path in tests, fed with the table's changes since the last delivery (read
//! off the table, the shape a stream carries): each `deliver` hands them to the real handler
//! and records what it sends.

use std::sync::{Arc, Mutex};

use shared::mail::{Email, MailError, Mailer};
use shared::notify::StreamEvent;
use shared::store::{Change, Item, Key};

use crate::api::Api;

/// What the handler sent.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<Email>>);

#[async_trait::async_trait]
impl Mailer for Recorder {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        self.0.lock().expect("lock").push(email.clone());
        Ok(uuid::Uuid::now_v7().to_string())
    }
}

/// The notifications path, fed with the table's changes since the last delivery.
pub struct Post {
    mailer: Arc<Recorder>,
    seen: Mutex<Vec<Item>>,
    seq: Mutex<u64>,
}

impl Post {
    pub async fn new(api: &Api) -> Post {
        Post {
            mailer: Arc::default(),
            seen: Mutex::new(api.snapshot().await),
            seq: Mutex::new(0),
        }
    }

    pub async fn deliver(&self, api: &Api) {
        let now = api.snapshot().await;
        let before = self.seen.lock().expect("lock").clone();
        let find = |items: &[Item], key: &Key| {
            items
                .iter()
                .find(|i| Key::of(i).as_ref() == Some(key))
                .cloned()
        };
        let mut keys: Vec<Key> = before
            .iter()
            .chain(now.iter())
            .filter_map(Key::of)
            .collect();
        keys.sort();
        keys.dedup();
        let mut events = Vec::new();
        for key in keys {
            let (old, new) = (find(&before, &key), find(&now, &key));
            if old != new {
                let mut seq = self.seq.lock().expect("lock");
                *seq += 1;
                events.push(StreamEvent {
                    id: format!("test-{}-{}", uuid::Uuid::now_v7(), *seq),
                    change: Change {
                        key,
                        old,
                        new,
                        expired: false,
                    },
                });
            }
        }
        let failed = shared::notify::handle_batch(&api.app, self.mailer.as_ref(), events).await;
        assert!(failed.is_empty(), "failed records: {failed:?}");
        *self.seen.lock().expect("lock") = api.snapshot().await;
    }

    pub fn to(&self, email: &str) -> Vec<Email> {
        self.mailer
            .0
            .lock()
            .expect("lock")
            .iter()
            .filter(|e| e.to == email)
            .cloned()
            .collect()
    }
}
