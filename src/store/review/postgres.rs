//! PostgreSQL's review statements: typed NULL tests, array filters, and the row lock that
//! keeps two reviewers of one submission from both applying their change.

pub use crate::store::aggregates::postgres::apply_deltas;
pub use crate::store::calls::postgres::{apply_case_updates, withdraw_interview};
pub use crate::store::postgres::units_filter;

pub const LIST_SUBMISSIONS: &str = concat!(
    "SELECT ",
    summary_columns!(),
    " FROM submissions WHERE campaign_id = $1 AND review_state = $2 AND seq > $3 \
     AND ($4::text[] IS NULL OR unit_id = ANY($4)) \
     AND ($5::text IS NULL OR $5 = ANY(string_to_array(quality_flags, ','))) \
     ORDER BY seq LIMIT $6"
);

pub const SELECT_FOR_REVIEW: &str = concat!(
    "SELECT ",
    summary_columns!(),
    ", carrier, respondent_hash, answers, respondent_attributes FROM submissions \
     WHERE campaign_id = $1 AND submission_id = $2 FOR UPDATE"
);

pub const LIST_ACTIONS: &str = "SELECT seq, campaign_id, submission_id, reviewer, decision, \
     from_state, to_state, reason, acted_at FROM review_actions WHERE campaign_id = $1 \
     AND seq > $2 AND ($3::uuid IS NULL OR submission_id = $3) ORDER BY seq LIMIT $4";
