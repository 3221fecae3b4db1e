//! Revoked tokens: which tokens a revocation refuses, decided from what a verified token says.

use std::collections::{HashMap, HashSet};

use super::audit::{Actor, AuditEntry};
use super::time::Timestamp;

/// What a revocation refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationTarget {
    /// The one token with this `jti`.
    TokenId(String),
    /// Every token of `subject` issued (`iat`) before `issued_before`, and every one of its
    /// tokens without an `iat` (nothing shows that it was issued after).
    Subject {
        subject: String,
        issued_before: Timestamp,
    },
}

/// A revocation as an admin asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRevocation {
    pub target: RevocationTarget,
    pub reason: String,
}

impl NewRevocation {
    /// The audit entry recording this revocation by `actor` at `at`.
    pub fn audit_entry(&self, actor: &Actor, at: Timestamp) -> AuditEntry {
        let (target_id, fields) = match &self.target {
            RevocationTarget::TokenId(jti) => (jti.clone(), serde_json::json!({"jti": jti})),
            RevocationTarget::Subject {
                subject,
                issued_before,
            } => (
                subject.clone(),
                serde_json::json!({
                    "subject": subject,
                    "issued_before": issued_before.as_micros(),
                }),
            ),
        };
        let mut entry = AuditEntry::creation(actor, at, "token", target_id, &fields);
        entry.action = "revoke";
        entry
            .after
            .insert("reason".to_owned(), serde_json::json!(self.reason));
        entry
    }
}

/// A stored revocation: what, who, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub target: RevocationTarget,
    /// The subject of the admin who revoked.
    pub revoked_by: String,
    pub revoked_at: Timestamp,
    pub reason: String,
}

/// What a verified token says about itself that a revocation may match.
#[derive(Debug, Clone, Copy)]
pub struct TokenFacts<'a> {
    pub subject: &'a str,
    pub token_id: Option<&'a str>,
    /// `iat`, seconds since the Unix epoch.
    pub issued_at: Option<u64>,
}

/// Every revocation in force, indexed for a check per call: two hash lookups.
#[derive(Debug, Default, Clone)]
pub struct RevocationSet {
    token_ids: HashSet<String>,
    /// Per subject, the latest cut-off: tokens issued before it are refused.
    subjects: HashMap<String, Timestamp>,
}

impl RevocationSet {
    pub fn new(revocations: impl IntoIterator<Item = RevocationTarget>) -> Self {
        let mut set = Self::default();
        for target in revocations {
            set.add(target);
        }
        set
    }

    pub fn add(&mut self, target: RevocationTarget) {
        match target {
            RevocationTarget::TokenId(id) => {
                self.token_ids.insert(id);
            }
            RevocationTarget::Subject {
                subject,
                issued_before,
            } => {
                let cut = self.subjects.entry(subject).or_insert(issued_before);
                *cut = (*cut).max(issued_before);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.token_ids.is_empty() && self.subjects.is_empty()
    }

    /// Whether a revocation refuses the token. `iat` has whole seconds, so a token issued in
    /// the second of a cut-off is refused too: a stolen token minted just before the cut-off
    /// must not pass, and a replacement is minted a second later.
    pub fn refuses(&self, token: TokenFacts<'_>) -> bool {
        if token.token_id.is_some_and(|id| self.token_ids.contains(id)) {
            return true;
        }
        let Some(cut) = self.subjects.get(token.subject) else {
            return false;
        };
        match token.issued_at {
            Some(iat) => i64::try_from(iat).is_ok_and(|iat| iat <= cut.seconds()),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token<'a>(subject: &'a str, id: Option<&'a str>, iat: Option<u64>) -> TokenFacts<'a> {
        TokenFacts {
            subject,
            token_id: id,
            issued_at: iat,
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_parts(seconds, 500_000_000).unwrap()
    }

    #[test]
    fn a_revoked_id_refuses_that_token_only() {
        let set = RevocationSet::new([RevocationTarget::TokenId("t1".into())]);
        assert!(set.refuses(token("phone-7", Some("t1"), Some(100))));
        assert!(!set.refuses(token("phone-7", Some("t2"), Some(100))));
        assert!(!set.refuses(token("phone-7", None, Some(100))));
    }

    #[test]
    fn a_subject_cut_off_refuses_older_tokens_and_those_of_its_second() {
        let set = RevocationSet::new([RevocationTarget::Subject {
            subject: "phone-7".into(),
            issued_before: at(1_000),
        }]);
        assert!(set.refuses(token("phone-7", Some("a"), Some(999))));
        assert!(set.refuses(token("phone-7", Some("a"), Some(1_000))));
        assert!(!set.refuses(token("phone-7", Some("a"), Some(1_001))));
        // No iat: nothing shows the token is newer than the cut-off.
        assert!(set.refuses(token("phone-7", Some("a"), None)));
        assert!(!set.refuses(token("phone-8", Some("a"), Some(999))));
    }

    #[test]
    fn the_latest_cut_off_of_a_subject_holds() {
        let set = RevocationSet::new([
            RevocationTarget::Subject {
                subject: "s".into(),
                issued_before: at(2_000),
            },
            RevocationTarget::Subject {
                subject: "s".into(),
                issued_before: at(1_000),
            },
        ]);
        assert!(set.refuses(token("s", None, Some(1_500))));
        assert!(!set.refuses(token("s", None, Some(2_001))));
        assert!(!set.is_empty());
        assert!(RevocationSet::default().is_empty());
    }
}
