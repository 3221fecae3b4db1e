//! PostgreSQL: a campaign update locks the campaign's row, so two updates take turns.

pub const LOCK_CAMPAIGN: &str = "SELECT id FROM campaigns WHERE id = $1 FOR UPDATE";
