//! End-to-end tests: each boots the real server on 127.0.0.1:0 with a fresh database and calls
//! it through the generated tonic clients, once per store backend.

#[macro_use]
mod helpers;

mod aggregates;
mod auth;
mod call_cases;
mod catalog;
mod composite;
mod concurrency;
mod fieldwork;
mod identity;
mod leaders;
mod limits;
mod margins;
mod outage;
mod peers;
mod pg_cluster;
mod properties;
mod rate_limits;
mod revocation;
mod scope;
mod store;
mod submissions;
mod upload;
