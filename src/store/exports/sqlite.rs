//! SQLite's export reads: filters over JSON arrays; `seq` is the rowid, so the newest row is
//! found without a scan.

pub use crate::store::sqlite::units_filter;

/// A list of stored codes as a JSON array for `json_each`, or NULL for none.
pub fn codes_filter(codes: Option<&[i16]>) -> Option<String> {
    codes.map(|c| serde_json::to_string(c).expect("numbers always serialise"))
}

pub const LAST_SUBMISSION: &str = "SELECT max(seq) FROM submissions WHERE $1 IS NOT NULL";

pub const LAST_ATTEMPT: &str = "SELECT max(seq) FROM call_attempts WHERE $1 IS NOT NULL";

pub const SUBMISSIONS: &str = "SELECT seq, submission_id, unit_id, channel, carrier, \
     respondent_hash, latitude, longitude, accuracy_m, started_at, ended_at, accepted_at, \
     answers, review_state, quality_flags, submitted_by FROM submissions \
     WHERE campaign_id = $1 AND seq > $2 AND seq <= $3 \
     AND ($4 IS NULL OR unit_id IN (SELECT value FROM json_each($4))) \
     AND ($5 IS NULL OR review_state IN (SELECT value FROM json_each($5))) \
     AND ($6 IS NULL OR ended_at >= $6) AND ($7 IS NULL OR ended_at < $7) \
     ORDER BY seq LIMIT $8";

pub const ATTEMPTS: &str = "SELECT seq, attempt_id, unit_id, carrier, disposition, \
     attempted_at, accepted_at, submitted_by, respondent_hash FROM call_attempts \
     WHERE campaign_id = $1 AND seq > $2 AND seq <= $3 \
     AND ($4 IS NULL OR unit_id IN (SELECT value FROM json_each($4))) \
     AND ($5 IS NULL OR attempted_at >= $5) AND ($6 IS NULL OR attempted_at < $6) \
     ORDER BY seq LIMIT $7";
