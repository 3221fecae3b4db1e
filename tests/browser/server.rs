//! A Canvass server in this process, on a fresh SQLite database, with its gRPC and dashboard
//! listeners on 127.0.0.1:0 and the small demo city loaded by `canvass demo --small`.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use canvass::auth::{Role, TokenIssuer};
use canvass::cli::client::{Bearer, Connection};
use canvass::configuration::ServeArgs;
use canvass::startup::Application;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub struct Demo {
    pub http: SocketAddr,
    pub issuer: TokenIssuer,
    pub channel: Channel,
    _data_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<canvass::error::Result<()>>>,
}

impl Demo {
    pub async fn start() -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut settings = ServeArgs::for_data_dir(data_dir.path(), "127.0.0.1:0".parse().unwrap());
        settings.common.database_url = Some(format!(
            "sqlite://{}",
            data_dir.path().join("canvass.db").display()
        ));
        settings.exposure.http_listen = Some("127.0.0.1:0".parse().unwrap());
        settings.phone_hash_key = Some("test-key".into());
        settings.shutdown_grace_seconds = 5;
        let app = Application::build(settings.clone())
            .await
            .expect("server builds");
        let grpc = app.local_addr();
        let http = app.http_addr().expect("the dashboard listens");
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stop.await;
        }));
        let issuer = TokenIssuer::from_pem_file(
            &settings.common.key_paths().private_key,
            &settings.common.jwt_issuer,
            &settings.common.jwt_audience,
        )
        .expect("the server's signing key");
        let channel = Channel::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect()
            .await
            .expect("gRPC connects");
        let dir = data_dir.path().to_owned();
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_canvass"))
                .env_clear()
                .env("CANVASS_DATA_DIR", dir)
                .env("NO_COLOR", "1")
                .args(["demo", "--small", "--server", &format!("http://{grpc}")])
                .output()
                .expect("canvass demo runs")
        })
        .await
        .unwrap();
        assert!(
            output.status.success(),
            "canvass demo: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self {
            http,
            issuer,
            channel,
            _data_dir: data_dir,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    pub fn token(&self, role: Role) -> String {
        self.issuer
            .mint("browser-test", role, &[], Duration::from_secs(3600))
            .expect("a token")
    }

    /// A channel whose calls carry a token of `role`.
    pub fn client(&self, role: Role) -> Connection {
        let bearer = Bearer::new(&self.token(role)).expect("a token is a header value");
        InterceptedService::new(self.channel.clone(), bearer)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Stops the server and checks that it stopped cleanly.
    pub async fn stop(mut self) {
        let _ = self.shutdown.take().expect("stopped once").send(());
        let server = self.server.take().expect("stopped once");
        tokio::time::timeout(Duration::from_secs(15), server)
            .await
            .expect("the server stops")
            .unwrap()
            .expect("clean shutdown");
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
