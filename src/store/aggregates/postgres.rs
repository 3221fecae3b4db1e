//! PostgreSQL: deltas are added in the database, so concurrent writers of several server
//! processes never lose each other's counts.

use sqlx::PgConnection;

use super::{Deltas, flat_moments, flat_top_three};
use crate::error::Result;
use crate::store::postgres::array_literal;
use crate::store::values::code;

/// Adds a batch's summed deltas in one upsert; `add_moments` (see the migrations) sums the
/// moment arrays in the database. Rows are sent in key order so that writers of several server
/// processes lock shared rows in the same order and cannot deadlock each other.
pub async fn apply_deltas(conn: &mut PgConnection, deltas: &Deltas) -> Result<()> {
    if deltas.cells.is_empty() {
        return Ok(());
    }
    let rows = deltas.sorted();
    let n = rows.len();
    let (mut campaigns, mut units, mut channels) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut carriers, mut strata, mut submissions, mut moments, mut top_three) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for ((campaign, unit, channel, carrier, stratum), figures) in rows {
        campaigns.push(campaign.as_str());
        units.push(unit.as_str());
        channels.push(code(*channel));
        carriers.push(carrier.code());
        strata.push(stratum.as_str());
        submissions.push(figures.submissions);
        // An array literal per row: UNNEST would flatten a two-dimensional array.
        moments.push(array_literal(&flat_moments(figures)));
        top_three.push(array_literal(&flat_top_three(figures)));
    }
    sqlx::query(
        "INSERT INTO cell_stats (campaign_id, unit_id, channel, carrier, stratum, submissions, \
         moments, top_three) \
         SELECT c, u, ch, ca, st, n, m::int8[], t::int8[] FROM UNNEST($1::text[], $2::text[], \
         $3::int2[], $4::int2[], $5::text[], $6::int8[], $7::text[], $8::text[]) \
         AS r(c, u, ch, ca, st, n, m, t) \
         ON CONFLICT (campaign_id, unit_id, channel, carrier, stratum) DO UPDATE SET \
         submissions = cell_stats.submissions + EXCLUDED.submissions, \
         moments = add_moments(cell_stats.moments, EXCLUDED.moments), \
         top_three = add_moments(cell_stats.top_three, EXCLUDED.top_three)",
    )
    .bind(campaigns)
    .bind(units)
    .bind(channels)
    .bind(carriers)
    .bind(strata)
    .bind(submissions)
    .bind(moments)
    .bind(top_three)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
