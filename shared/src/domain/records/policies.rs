//! What is stored for a profile's access policies (see `keys` for where).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::policies::{Catalogue, Permission, PolicyBody, Target};

/// A saved policy (`PROFILE#pid / POLICY#id`): its body, and what the store keeps beside it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub id: Uuid,
    pub pid: Uuid,
    pub name: String,
    pub active: bool,
    pub targets: Vec<Target>,
    pub permissions: Vec<Permission>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Raised by every write of the policy: a write conditioned on the revision it read (or the
    /// client gave) loses no concurrent change.
    pub revision: i64,
}

impl PolicyRecord {
    /// The policy as the team wrote it.
    pub fn body(&self) -> PolicyBody {
        PolicyBody {
            name: self.name.clone(),
            active: self.active,
            targets: self.targets.clone(),
            permissions: self.permissions.clone(),
        }
    }

    /// Replaces the body (the id, times and revision stay).
    pub fn set_body(&mut self, body: PolicyBody) {
        self.name = body.name;
        self.active = body.active;
        self.targets = body.targets;
        self.permissions = body.permissions;
    }
}

/// A profile's resource catalogue (`PROFILE#pid / RESOURCETYPES`); absent means
/// `Catalogue::default()`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CatalogueRecord {
    pub types: Catalogue,
    pub updated_at: DateTime<Utc>,
    /// Raised by every PUT: a policy write checks the revision it validated against.
    pub revision: i64,
}
