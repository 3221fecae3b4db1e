//! Canvass: collects public-satisfaction survey submissions and turns them into per-unit
//! scores and rankings, served over gRPC (`proto/canvass/v1`).

pub mod aggregate_cache;
pub mod api;
pub mod auth;
pub mod bench;
pub mod briefing;
pub mod catalog;
pub mod cli;
pub mod codec;
pub mod configuration;
pub mod connections;
pub mod domain;
pub mod error;
pub mod exports;
pub mod fieldwork;
pub mod file_modes;
pub mod ingest;
pub mod listener;
pub mod live;
pub mod message_limit;
pub mod metrics;
pub mod proto;
pub mod response_body;
pub mod scores;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod web;
