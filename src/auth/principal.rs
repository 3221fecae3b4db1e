//! Who is calling, and what they may do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::channel::Channel;
use crate::domain::ids::UnitId;
use crate::domain::unit::UnitTree;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Submits door-to-door visits for its units.
    FieldWorker,
    /// Submits phone polls for its units.
    CallCenter,
    /// Reads catalog and aggregates.
    Analyst,
    /// Reviews flagged submissions and follows up grievances for its units.
    Reviewer,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FieldWorker => "field_worker",
            Self::CallCenter => "call_center",
            Self::Analyst => "analyst",
            Self::Reviewer => "reviewer",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        [
            Self::FieldWorker,
            Self::CallCenter,
            Self::Analyst,
            Self::Reviewer,
            Self::Admin,
        ]
        .into_iter()
        .find(|r| r.as_str() == value)
        .ok_or_else(|| {
            format!(
                "unknown role {value:?}; one of field_worker, call_center, analyst, reviewer, admin"
            )
        })
    }
}

/// The JWT claims Canvass issues and accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    /// Units (with their descendants) a field worker or call center may submit for.
    #[serde(default)]
    pub units: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    /// Names the token, for revoking it alone.
    pub jti: String,
}

/// The verified caller, placed in request extensions by the auth layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub role: Role,
    pub units: Vec<UnitId>,
}

impl Principal {
    /// The caller as the audit log records it.
    pub fn actor(&self) -> crate::domain::audit::Actor {
        crate::domain::audit::Actor {
            subject: self.subject.clone(),
            role: self.role.as_str().to_owned(),
        }
    }

    /// Checks that the caller may submit for `unit`: admins anywhere, others only within the
    /// units their token names. An unknown unit is simply not within them, so this answers
    /// PERMISSION_DENIED before anything reveals whether the unit exists.
    pub fn require_unit(&self, units: &UnitTree, unit: &UnitId) -> Result<()> {
        if self.role == Role::Admin || self.units.iter().any(|own| units.is_within(unit, own)) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "the token of {:?} does not cover unit {unit}",
                self.subject
            )))
        }
    }

    /// Checks that the caller may submit through `channel`: visits are field workers' work,
    /// phone polls call centers', admins may do both. Unary calls get this from their method's
    /// roles; an upload carries both kinds, so each item is checked.
    pub fn require_channel(&self, channel: Channel) -> Result<()> {
        let needed = match channel {
            Channel::Visit => Role::FieldWorker,
            Channel::Phone => Role::CallCenter,
        };
        if self.role == Role::Admin || self.role == needed {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "role {} may not submit {} interviews",
                self.role,
                match channel {
                    Channel::Visit => "door-to-door",
                    Channel::Phone => "phone",
                }
            )))
        }
    }
}
