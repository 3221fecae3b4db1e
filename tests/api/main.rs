//! End-to-end tests: each boots the real server on 127.0.0.1:0 with a fresh database and calls
//! it through the generated tonic clients, once per store backend.

#[macro_use]
mod helpers;

mod aggregates;
mod auth;
mod catalog;
mod concurrency;
mod fieldwork;
mod leaders;
mod limits;
mod outage;
mod pg_cluster;
mod properties;
mod store;
mod submissions;
mod upload;
