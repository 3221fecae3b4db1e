//! End-to-end tests: each boots the real server on 127.0.0.1:0 with a fresh database and calls
//! it through the generated tonic clients, once per store backend.

#[macro_use]
mod helpers;

mod aggregates;
mod audit;
mod auth;
mod briefing;
mod call_cases;
mod catalog;
mod composite;
mod concurrency;
mod connections;
mod export;
mod fieldwork;
mod identity;
mod import;
mod leaders;
mod lifecycle;
mod limits;
mod margins;
mod observability;
mod outage;
mod peers;
mod pg_cluster;
mod properties;
mod rate_limits;
mod reads;
mod revocation;
mod scope;
mod store;
mod submissions;
mod tls;
mod upload;
