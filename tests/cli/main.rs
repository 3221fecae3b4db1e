//! End-to-end tests of the `canvass` binary: each file is a subcommand as an operator or a
//! script uses it.

mod binary;
mod briefing;
mod demo;
mod export;
mod import;
mod limits;
mod listen;
mod reports;
mod revoke;
mod serve;
