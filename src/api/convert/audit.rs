//! Audit log listings.

use super::*;
use crate::api::pagination::Page;
use crate::domain::audit::{AuditFilter, AuditRecord};
use crate::error::Error;

/// A listing's filter and page. The page token is bound to the filter.
pub fn audit_filter_from_proto(r: &pb::ListAuditEntriesRequest) -> Result<(AuditFilter, Page)> {
    let mut v = Violations::new();
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    if !r.target_id.is_empty() && r.target_kind.is_empty() {
        v.add("target_kind", "is required with target_id");
    }
    let from = r
        .start_time
        .as_ref()
        .and_then(|t| v.check("start_time", timestamp(Some(t))));
    let until = r
        .end_time
        .as_ref()
        .and_then(|t| v.check("end_time", timestamp(Some(t))));
    if let (Some(from), Some(until)) = (from, until)
        && until <= from
    {
        v.add("end_time", "must be after start_time");
    }
    v.finish()?;
    let fingerprint = format!(
        "audit|{}|{}|{}|{:?}|{:?}",
        r.target_kind,
        r.target_id,
        r.actor,
        from.map(Timestamp::as_micros),
        until.map(Timestamp::as_micros)
    );
    let page = Page::parse(r.page_size, &r.page_token, &fingerprint)?;
    if page.after() < 0 {
        return Err(Error::invalid("page_token", "is malformed"));
    }
    Ok((
        AuditFilter {
            target_kind: text(&r.target_kind),
            target_id: text(&r.target_id),
            actor: text(&r.actor),
            from,
            until,
            before_seq: page.after(),
            limit: page.size + 1,
        },
        page,
    ))
}

pub fn audit_entry_to_proto(r: &AuditRecord) -> pb::AuditEntry {
    pb::AuditEntry {
        sequence: r.seq,
        time: Some(timestamp_to_proto(r.at)),
        actor: r.actor.clone(),
        actor_role: r.actor_role.clone(),
        action: r.action.clone(),
        target_kind: r.target_kind.clone(),
        target_id: r.target_id.clone(),
        before: r.before.clone(),
        after: r.after.clone(),
    }
}
