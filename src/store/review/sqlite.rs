//! SQLite's review statements: filters over JSON arrays, and no row locks (the writer
//! connection holds the database's write lock for the whole transaction).

pub use crate::store::aggregates::sqlite::apply_deltas;
pub use crate::store::calls::sqlite::{apply_case_updates, withdraw_interview};
pub use crate::store::sqlite::units_filter;

pub const LIST_SUBMISSIONS: &str = concat!(
    "SELECT ",
    summary_columns!(),
    " FROM submissions WHERE campaign_id = $1 AND review_state = $2 AND seq > $3 \
     AND ($4 IS NULL OR unit_id IN (SELECT value FROM json_each($4))) \
     AND ($5 IS NULL OR instr(',' || quality_flags || ',', ',' || $5 || ',') > 0) \
     ORDER BY seq LIMIT $6"
);

pub const SELECT_FOR_REVIEW: &str = concat!(
    "SELECT ",
    summary_columns!(),
    ", carrier, respondent_hash, answers, respondent_attributes FROM submissions \
     WHERE campaign_id = $1 AND submission_id = $2"
);

pub const LIST_ACTIONS: &str = "SELECT seq, campaign_id, submission_id, reviewer, decision, \
     from_state, to_state, reason, acted_at FROM review_actions WHERE campaign_id = $1 \
     AND seq > $2 AND ($3 IS NULL OR submission_id = $3) ORDER BY seq LIMIT $4";
