//! PostgreSQL's grievance statements: typed NULL tests, array filters, the row lock of an
//! update, and the batch insert with one array per column.

use sqlx::PgConnection;

use crate::domain::grievance::{GrievanceStatus, grievance_id};
use crate::domain::submission::NewSubmission;
use crate::domain::time::Timestamp;
use crate::error::Result;
pub use crate::store::postgres::units_filter;
use crate::store::values::code;

pub const LIST: &str = concat!(
    "SELECT seq, ",
    grievance_columns!(),
    " FROM grievances WHERE campaign_id = $1 AND seq > $2 \
     AND ($3::text[] IS NULL OR unit_id = ANY($3)) \
     AND ($4::int2 IS NULL OR status = $4) ORDER BY seq LIMIT $5"
);

pub const SELECT_FOR_UPDATE: &str = concat!(
    "SELECT ",
    grievance_columns!(),
    " FROM grievances WHERE campaign_id = $1 AND grievance_id = $2 FOR UPDATE"
);

pub const FACTS: &str = "SELECT status, raised_at, resolved_at FROM grievances \
     WHERE campaign_id = $1 AND unit_id = ANY($2)";

/// Stores the grievances of newly committed visits, all OPEN.
pub async fn insert<'a>(
    conn: &mut PgConnection,
    submissions: impl Iterator<Item = &'a NewSubmission>,
    at: Timestamp,
) -> Result<()> {
    let (mut campaigns, mut ids, mut submission_ids, mut units) = (vec![], vec![], vec![], vec![]);
    let (mut categories, mut descriptions, mut urgencies) = (vec![], vec![], vec![]);
    for s in submissions {
        for (i, g) in s.grievances.iter().enumerate() {
            campaigns.push(s.campaign_id.as_str());
            ids.push(grievance_id(s.id, i));
            submission_ids.push(s.id);
            units.push(s.unit_id.as_str());
            categories.push(g.category.as_str());
            descriptions.push(g.description.as_str());
            urgencies.push(code(g.urgency));
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO grievances (campaign_id, grievance_id, submission_id, unit_id, category, \
         description, urgency, status, raised_at, updated_at) \
         SELECT *, $8::int2, $9::timestamptz, $9::timestamptz FROM UNNEST($1::text[], \
         $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::int2[])",
    )
    .bind(campaigns)
    .bind(ids)
    .bind(submission_ids)
    .bind(units)
    .bind(categories)
    .bind(descriptions)
    .bind(urgencies)
    .bind(GrievanceStatus::Open)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
