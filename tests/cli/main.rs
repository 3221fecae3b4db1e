//! End-to-end tests of the `canvass` binary: each file is a subcommand as an operator or a
//! script uses it.

mod binary;
mod revoke;
mod serve;
