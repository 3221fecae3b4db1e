//! SQLite's grievance statements: filters over JSON arrays, and the rows a batch commit
//! inserts as one JSON array.

use serde::Serialize;

use crate::domain::grievance::grievance_id;
pub use crate::store::sqlite::units_filter;
use crate::store::submissions::Admitted;
use crate::store::values::code;

pub const LIST: &str = concat!(
    "SELECT seq, ",
    grievance_columns!(),
    " FROM grievances WHERE campaign_id = $1 AND seq > $2 \
     AND ($3 IS NULL OR unit_id IN (SELECT value FROM json_each($3))) \
     AND ($4 IS NULL OR status = $4) ORDER BY seq LIMIT $5"
);

pub const SELECT_FOR_UPDATE: &str = concat!(
    "SELECT ",
    grievance_columns!(),
    " FROM grievances WHERE campaign_id = $1 AND grievance_id = $2"
);

pub const FACTS: &str = "SELECT status, raised_at, resolved_at FROM grievances \
     WHERE campaign_id = $1 AND unit_id IN (SELECT value FROM json_each($2))";

/// Inserts the bound JSON array of [`GrievanceRow`]s, all OPEN, raised at the bound instant.
macro_rules! insert_grievances_sql {
    () => {
        "INSERT INTO grievances (campaign_id, grievance_id, submission_id, unit_id, category, \
         description, urgency, status, raised_at, updated_at) \
         SELECT r.value ->> 'campaign_id', r.value ->> 'grievance_id', \
         unhex(r.value ->> 'submission_id'), r.value ->> 'unit_id', r.value ->> 'category', \
         r.value ->> 'description', r.value ->> 'urgency', ?, ?, ? FROM jsonb_each(?) AS r; "
    };
}
pub(crate) use insert_grievances_sql;

/// A grievance row, bound like submission rows.
#[derive(Serialize)]
pub struct GrievanceRow<'a> {
    campaign_id: &'a str,
    grievance_id: String,
    submission_id: String,
    unit_id: &'a str,
    category: &'a str,
    description: &'a str,
    urgency: i16,
}

/// The grievances of newly committed visits.
pub fn grievance_rows<'a>(new: &[&'a Admitted<'a>]) -> Vec<GrievanceRow<'a>> {
    new.iter()
        .flat_map(|a| {
            let s = a.submission;
            s.grievances.iter().enumerate().map(|(i, g)| GrievanceRow {
                campaign_id: s.campaign_id.as_str(),
                grievance_id: grievance_id(s.id, i),
                submission_id: hex::encode(s.id.as_bytes()),
                unit_id: s.unit_id.as_str(),
                category: &g.category,
                description: &g.description,
                urgency: code(g.urgency),
            })
        })
        .collect()
}
