//! SQLite: the writer connection already holds the write lock for the whole transaction.

pub const LOCK_CAMPAIGN: &str = "SELECT id FROM campaigns WHERE id = $1";
