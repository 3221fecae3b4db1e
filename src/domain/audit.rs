//! Audit entries: who changed what, when, and the changed fields before and after.

use serde_json::{Map, Value};

use super::time::Timestamp;

/// One recorded change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// The caller's token subject.
    pub actor: String,
    /// The caller's role, e.g. "admin".
    pub actor_role: String,
    pub at: Timestamp,
    /// "create", "update", "archive", "restore", "review", "update_status" …
    pub action: &'static str,
    /// "unit", "questionnaire", "campaign", "submission", "grievance" …
    pub target_kind: &'static str,
    pub target_id: String,
    /// The changed fields' values before the change (empty for a creation).
    pub before: Map<String, Value>,
    /// The changed fields' values after it.
    pub after: Map<String, Value>,
}

impl AuditEntry {
    /// An entry for a change from `before` to `after` (JSON objects of the target's fields):
    /// only the fields whose values differ are kept. `None` when nothing changed.
    pub fn change(
        actor: &Actor,
        at: Timestamp,
        action: &'static str,
        target_kind: &'static str,
        target_id: impl Into<String>,
        before: &Value,
        after: &Value,
    ) -> Option<Self> {
        let (before, after) = changed_fields(before, after);
        (!after.is_empty() || !before.is_empty()).then(|| Self {
            actor: actor.subject.clone(),
            actor_role: actor.role.clone(),
            at,
            action,
            target_kind,
            target_id: target_id.into(),
            before,
            after,
        })
    }

    /// An entry for a creation: every field of `created` is "after".
    pub fn creation(
        actor: &Actor,
        at: Timestamp,
        target_kind: &'static str,
        target_id: impl Into<String>,
        created: &Value,
    ) -> Self {
        Self {
            actor: actor.subject.clone(),
            actor_role: actor.role.clone(),
            at,
            action: "create",
            target_kind,
            target_id: target_id.into(),
            before: Map::new(),
            after: created.as_object().cloned().unwrap_or_default(),
        }
    }
}

/// Who makes a change: a token's subject and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub subject: String,
    pub role: String,
}

/// The fields of two JSON objects whose values differ, as (before, after); a field missing on
/// one side is `null` there.
pub fn changed_fields(before: &Value, after: &Value) -> (Map<String, Value>, Map<String, Value>) {
    let empty = Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut out = (Map::new(), Map::new());
    for key in b.keys().chain(a.keys().filter(|k| !b.contains_key(*k))) {
        let old = b.get(key).unwrap_or(&Value::Null);
        let new = a.get(key).unwrap_or(&Value::Null);
        if old != new {
            out.0.insert(key.clone(), old.clone());
            out.1.insert(key.clone(), new.clone());
        }
    }
    out
}

/// An entry as stored, with its place in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub actor_role: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    /// JSON object text.
    pub before: String,
    /// JSON object text.
    pub after: String,
}

/// Which entries a listing wants, newest first, and where the previous page ended.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub actor: Option<String>,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only entries with a smaller sequence number (0: from the newest).
    pub before_seq: i64,
    pub limit: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_only_the_fields_that_changed() {
        let (before, after) = changed_fields(
            &json!({"name": "金石镇", "parent_id": "city", "area": null}),
            &json!({"name": "金石街道", "parent_id": "city", "archived_at": 5}),
        );
        assert_eq!(
            Value::Object(before),
            json!({"name": "金石镇", "archived_at": null})
        );
        assert_eq!(
            Value::Object(after),
            json!({"name": "金石街道", "archived_at": 5})
        );
    }

    #[test]
    fn no_entry_for_a_change_that_changes_nothing() {
        let actor = Actor {
            subject: "ops".into(),
            role: "admin".into(),
        };
        let same = json!({"name": "x"});
        let at = Timestamp::from_micros(1);
        assert!(AuditEntry::change(&actor, at, "update", "unit", "u", &same, &same).is_none());
        let entry = AuditEntry::change(
            &actor,
            at,
            "update",
            "unit",
            "u",
            &same,
            &json!({"name": "y"}),
        )
        .unwrap();
        assert_eq!(entry.after.get("name"), Some(&json!("y")));
    }
}
