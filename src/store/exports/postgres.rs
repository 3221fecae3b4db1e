//! PostgreSQL's export reads: typed NULL tests and array filters; the primary key
//! (campaign_id, seq) serves both the newest row and each chunk.

pub use crate::store::postgres::units_filter;

/// A list of stored codes as an array, or NULL for none.
pub fn codes_filter(codes: Option<&[i16]>) -> Option<Vec<i16>> {
    codes.map(<[i16]>::to_vec)
}

pub const LAST_SUBMISSION: &str = "SELECT max(seq) FROM submissions WHERE campaign_id = $1";

pub const LAST_ATTEMPT: &str = "SELECT max(seq) FROM call_attempts WHERE campaign_id = $1";

pub const SUBMISSIONS: &str = "SELECT seq, submission_id, unit_id, channel, carrier, \
     respondent_hash, latitude, longitude, accuracy_m, started_at, ended_at, accepted_at, \
     answers, review_state, quality_flags, submitted_by FROM submissions \
     WHERE campaign_id = $1 AND seq > $2 AND seq <= $3 \
     AND ($4::text[] IS NULL OR unit_id = ANY($4)) \
     AND ($5::int2[] IS NULL OR review_state = ANY($5)) \
     AND ($6::timestamptz IS NULL OR ended_at >= $6) \
     AND ($7::timestamptz IS NULL OR ended_at < $7) \
     ORDER BY seq LIMIT $8";

pub const ATTEMPTS: &str = "SELECT seq, attempt_id, unit_id, carrier, disposition, \
     attempted_at, accepted_at, submitted_by, respondent_hash FROM call_attempts \
     WHERE campaign_id = $1 AND seq > $2 AND seq <= $3 \
     AND ($4::text[] IS NULL OR unit_id = ANY($4)) \
     AND ($5::timestamptz IS NULL OR attempted_at >= $5) \
     AND ($6::timestamptz IS NULL OR attempted_at < $6) \
     ORDER BY seq LIMIT $7";
