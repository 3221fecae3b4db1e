//! The dashboard in headless Chromium: a real server with its HTTP listener on 127.0.0.1:0,
//! the small demo city loaded through the binary, pages driven through chromedriver.
//!
//! Without chromium or chromedriver the tests are skipped with the reason printed, except on
//! CI (`CI=true`), where that is an error.

mod chromium;
mod dashboard;
mod screenshots;
mod server;
