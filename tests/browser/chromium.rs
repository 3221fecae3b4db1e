//! Headless Chromium behind a chromedriver this harness starts on a free port, in a process
//! group of its own that is killed when the [`Browser`] is dropped, Chromium with it.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// How long a page gets to show what a test waits for.
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

pub struct Browser {
    pub client: Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// chromedriver's process group, killed on drop.
struct Driver(Child);

impl Browser {
    /// A fresh headless Chromium, or `None` (with the reason printed) when it is not installed;
    /// on CI that is an error.
    pub async fn start() -> Option<Self> {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            if !Path::new(binary).exists() {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("{binary} not found: install Debian's chromium and chromium-driver");
                }
                eprintln!(
                    "skipping browser tests: {binary} not found (apt-get install chromium chromium-driver)"
                );
                return None;
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Driver(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("chromedriver starts"),
        );
        let profile = tempfile::tempdir().expect("temp dir");
        let mut capabilities = Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,1600", "--lang=zh-CN",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        // `driver` is killed on drop if connecting fails.
        let client = connect(port, capabilities, Instant::now() + PAGE_WAIT).await;
        client
            .set_window_size(1280, 1600)
            .await
            .expect("window size");
        Some(Self {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Ends the session (Chromium exits) and stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// Waits until `script` (a function body that returns a value) returns something truthy,
    /// and returns that.
    pub async fn wait_for(&self, what: &str, script: &str) -> serde_json::Value {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let value = self
                .client
                .execute(script, vec![])
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let truthy = !matches!(
                &value,
                serde_json::Value::Null | serde_json::Value::Bool(false)
            ) && value != json!(0)
                && value != json!("");
            if truthy {
                return value;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Enters `token` into the page's sign-in form.
    pub async fn sign_in(&self, token: &str) {
        let input = self
            .client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css("#signin input#token"))
            .await
            .expect("the sign-in form");
        self.wait_for(
            "the sign-in form to show",
            "return !document.getElementById('signin').hidden",
        )
        .await;
        input.send_keys(token).await.expect("typing the token");
        self.client
            .find(Locator::Css("#signin button[type=submit]"))
            .await
            .expect("the sign-in button")
            .click()
            .await
            .expect("signing in");
    }
}

async fn connect(port: u16, capabilities: Capabilities, deadline: Instant) -> Client {
    loop {
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities.clone());
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(client) => return client,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("connecting to chromedriver: {error}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium it started.
        // SAFETY: kill only sends a signal, to the process group this harness created.
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}
