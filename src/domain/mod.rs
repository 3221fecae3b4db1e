//! Validated domain types and the pure logic of scores and ranks: no I/O, no async.

pub mod aapor;
pub mod campaign;
pub mod cells;
pub mod channel;
pub mod flags;
pub mod geo;
pub mod grievance;
pub mod ids;
pub mod intake;
pub mod peers;
pub mod phone;
pub mod pooling;
pub mod quality;
pub mod questionnaire;
pub mod ranking;
pub mod review;
pub mod revocation;
pub mod scoring;
pub mod stats;
pub mod submission;
pub mod time;
pub mod unit;
pub mod weighting;
