//! A real Canvass server on 127.0.0.1:0 with its own fresh database, generated tonic clients
//! carrying tokens, and the calls that seed the standard catalog.

use std::time::Duration;

use canvass::auth::{Role, TokenIssuer};
use canvass::configuration::ServeArgs;
use canvass::domain::ids::UnitId;
use canvass::proto::v1 as pb;
use canvass::proto::v1::aggregate_service_client::AggregateServiceClient;
use canvass::proto::v1::call_center_service_client::CallCenterServiceClient;
use canvass::proto::v1::catalog_service_client::CatalogServiceClient;
use canvass::proto::v1::review_service_client::ReviewServiceClient;
use canvass::proto::v1::submission_service_client::SubmissionServiceClient;
use canvass::startup::Application;
use canvass::store::{Store, StoreOptions};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use super::fixtures::{SEEDED_UNITS, campaign, standard_questionnaire};
use super::stored::stored_submissions;

pub const ISSUER: &str = "canvass";
pub const AUDIENCE: &str = "canvass";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Authed = InterceptedService<Channel, Bearer>;

pub struct TestApp {
    pub channel: Channel,
    /// Where the server listens, for clients that need their own connection settings.
    pub address: std::net::SocketAddr,
    /// Where the server serves /metrics, when the test asked for it.
    pub metrics_address: Option<std::net::SocketAddr>,
    /// The store API on the server's database, for tests that drive the store directly.
    pub store: Store,
    pub issuer: TokenIssuer,
    pub data_dir: TempDir,
    /// The database the server was started with; tests read it back with their own SQL.
    pub database_url: String,
    /// The admin token the seeding calls use, when not one minted with the server's own key
    /// (a server that trusts an identity provider's keys).
    pub admin_token: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<canvass::error::Result<()>>>,
}

impl TestApp {
    /// Boots a server on a fresh database of `backend`; `None` when that backend is not
    /// available on this machine (the reason is printed).
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_configured(backend, |_| {}).await
    }

    /// As [`TestApp::spawn`], with the test settings changed by `configure`.
    pub async fn spawn_configured(
        backend: Backend,
        configure: impl FnOnce(&mut ServeArgs),
    ) -> Option<Self> {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", data_dir.path().join("canvass.db").display()),
            Backend::Postgres => crate::pg_cluster::fresh_database_url().await?,
        };
        Some(Self::spawn_with(data_dir, database_url, configure).await)
    }

    /// Boots a server on a fresh SQLite database with the test settings changed by
    /// `configure`.
    pub async fn spawn_sqlite_with(configure: impl FnOnce(&mut ServeArgs)) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database_url = format!("sqlite://{}", data_dir.path().join("canvass.db").display());
        Self::spawn_with(data_dir, database_url, configure).await
    }

    /// Boots a server on `database_url` (an existing, empty database) with the test settings
    /// changed by `configure`.
    pub async fn spawn_with_database_url(
        database_url: String,
        configure: impl FnOnce(&mut ServeArgs),
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::spawn_with(data_dir, database_url, configure).await
    }

    /// Boots a second server process on this one's database, trusting and minting with this
    /// one's keys, as several servers share one PostgreSQL database in production.
    pub async fn spawn_beside(&self) -> Self {
        let keys = self.data_dir.path();
        let (public_key, private_key) = (
            keys.join("jwt-ed25519.pub.pem"),
            keys.join("jwt-ed25519.pem"),
        );
        Self::spawn_with_database_url(self.database_url.clone(), |s| {
            s.common.jwt_public_key = Some(public_key);
            s.common.jwt_private_key = Some(private_key);
        })
        .await
    }

    async fn spawn_with(
        data_dir: TempDir,
        database_url: String,
        configure: impl FnOnce(&mut ServeArgs),
    ) -> Self {
        let mut settings = ServeArgs::for_data_dir(data_dir.path(), "127.0.0.1:0".parse().unwrap());
        settings.common.database_url = Some(database_url.clone());
        settings.db_max_connections = 4;
        settings.phone_hash_key = Some("test-key".into());
        settings.shutdown_grace_seconds = 5;
        // Small batches, so that the suite's concurrent clients fill them and PostgreSQL commits
        // batches side by side, as a backlog of uploads makes it do in production.
        settings.ingest_max_batch = 16;
        // The suite's clients share a subject per role and call far faster than phones; the
        // limits' own tests set them.
        settings.identity.rate_limit_per_subject = canvass::auth::RateLimit::OFF;
        settings.identity.rate_limit_per_peer = canvass::auth::RateLimit::OFF;
        configure(&mut settings);
        let app = Application::build(settings.clone())
            .await
            .expect("server builds");
        let address = app.local_addr();
        let metrics_address = app.metrics_addr();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stop.await;
        }));
        let endpoint = Channel::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        // A TLS server does not speak plaintext: its tests bring their own clients.
        let channel = if settings.exposure.tls_cert.is_some() {
            endpoint.connect_lazy()
        } else {
            endpoint.connect().await.expect("client connects")
        };
        let store = Store::open(&StoreOptions {
            url: database_url.clone(),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
        })
        .await
        .expect("the tests' own store opens");
        let key_paths = settings.common.key_paths();
        let issuer = TokenIssuer::from_pem_file(&key_paths.private_key, ISSUER, AUDIENCE).unwrap();
        Self {
            channel,
            address,
            metrics_address,
            store,
            issuer,
            data_dir,
            database_url,
            admin_token: None,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Whether the server task is still running (it has not returned or panicked).
    pub fn is_running(&self) -> bool {
        self.server
            .as_ref()
            .is_some_and(|server| !server.is_finished())
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }

    pub fn token(&self, role: Role, units: &[&str]) -> String {
        let units: Vec<UnitId> = units.iter().map(|u| UnitId::parse(u).unwrap()).collect();
        self.issuer
            .mint(
                &format!("{role}-tester"),
                role,
                &units,
                Duration::from_secs(3600),
            )
            .unwrap()
    }

    pub fn bearer_for(token: &str) -> Bearer {
        Self::bearer(Some(token))
    }

    fn bearer(token: Option<&str>) -> Bearer {
        Bearer(token.map(|t| format!("Bearer {t}").parse().expect("ascii token")))
    }

    pub fn catalog_as(&self, token: Option<&str>) -> CatalogServiceClient<Authed> {
        CatalogServiceClient::with_interceptor(self.channel.clone(), Self::bearer(token))
    }

    pub fn submissions_as(&self, token: Option<&str>) -> SubmissionServiceClient<Authed> {
        SubmissionServiceClient::with_interceptor(self.channel.clone(), Self::bearer(token))
    }

    pub fn aggregates_as(&self, token: Option<&str>) -> AggregateServiceClient<Authed> {
        AggregateServiceClient::with_interceptor(self.channel.clone(), Self::bearer(token))
    }

    /// A CallCenterService client with a token of `role` for `units`.
    pub fn call_center_service(
        &self,
        role: Role,
        units: &[&str],
    ) -> CallCenterServiceClient<Authed> {
        CallCenterServiceClient::with_interceptor(
            self.channel.clone(),
            Self::bearer_for(&self.token(role, units)),
        )
    }

    /// A ReviewService client with a token of `role` for `units`.
    pub fn review_service(&self, role: Role, units: &[&str]) -> ReviewServiceClient<Authed> {
        ReviewServiceClient::with_interceptor(
            self.channel.clone(),
            Self::bearer_for(&self.token(role, units)),
        )
    }

    /// A reviewer of the whole city approves or rejects submission `id` of `campaign`.
    pub async fn review(
        &self,
        campaign: &str,
        id: &str,
        decision: pb::ReviewDecision,
    ) -> pb::SubmissionSummary {
        self.review_service(Role::Reviewer, &["city"])
            .review_submission(pb::ReviewSubmissionRequest {
                campaign_id: campaign.into(),
                submission_id: id.into(),
                decision: decision.into(),
                reason: format!("{decision:?} after a call-back"),
            })
            .await
            .unwrap_or_else(|s| panic!("reviewing {id}: {s:?}"))
            .into_inner()
    }

    /// An AuditService client with a token of `role`.
    pub fn audit_service(
        &self,
        role: Role,
    ) -> canvass::proto::v1::audit_service_client::AuditServiceClient<Authed> {
        canvass::proto::v1::audit_service_client::AuditServiceClient::with_interceptor(
            self.channel.clone(),
            Self::bearer_for(&self.token(role, &[])),
        )
    }

    pub fn admin_catalog(&self) -> CatalogServiceClient<Authed> {
        let token = self
            .admin_token
            .clone()
            .unwrap_or_else(|| self.token(Role::Admin, &[]));
        self.catalog_as(Some(&token))
    }

    pub fn field_worker(&self, units: &[&str]) -> SubmissionServiceClient<Authed> {
        self.submissions_as(Some(&self.token(Role::FieldWorker, units)))
    }

    pub fn call_center(&self, units: &[&str]) -> SubmissionServiceClient<Authed> {
        self.submissions_as(Some(&self.token(Role::CallCenter, units)))
    }

    pub fn analyst(&self) -> AggregateServiceClient<Authed> {
        self.aggregates_as(Some(&self.token(Role::Analyst, &[])))
    }

    pub async fn stored_count(&self, campaign: &str) -> usize {
        stored_submissions(self, campaign).await.len()
    }

    pub async fn create_unit(
        &self,
        id: &str,
        name: &str,
        kind: pb::UnitKind,
        parent: Option<&str>,
    ) {
        self.admin_catalog()
            .create_unit(pb::CreateUnitRequest {
                unit: Some(pb::Unit {
                    id: id.into(),
                    name: name.into(),
                    kind: kind.into(),
                    parent_id: parent.unwrap_or_default().into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_or_else(|s| panic!("creating unit {id}: {s:?}"));
    }

    /// Creates [`SEEDED_UNITS`], parents first.
    pub async fn seed_units(&self) {
        for (id, name, kind, parent) in SEEDED_UNITS {
            self.create_unit(id, name, kind, parent).await;
        }
    }

    pub async fn create_questionnaire(&self, q: pb::Questionnaire) {
        self.admin_catalog()
            .create_questionnaire(pb::CreateQuestionnaireRequest {
                questionnaire: Some(q),
            })
            .await
            .expect("questionnaire created");
    }

    pub async fn create_campaign(&self, c: pb::Campaign) {
        self.admin_catalog()
            .create_campaign(pb::CreateCampaignRequest { campaign: Some(c) })
            .await
            .expect("campaign created");
    }

    /// Units, the standard questionnaire and campaign "c1" over the whole city, open now.
    pub async fn seed(&self) {
        self.seed_units().await;
        self.create_questionnaire(standard_questionnaire()).await;
        self.create_campaign(campaign("c1", None, 1)).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn unit_score(app: &TestApp, campaign: &str, unit: &str) -> pb::UnitScore {
    app.analyst()
        .get_unit_score(pb::GetUnitScoreRequest {
            campaign_id: campaign.into(),
            unit_id: unit.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// The google.rpc BadRequest field names of an INVALID_ARGUMENT status.
pub fn violated_fields(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("INVALID_ARGUMENT carries a BadRequest")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// Runs each test body once per backend: `name::sqlite` and `name::postgres`.
macro_rules! per_backend {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn body($app: $crate::helpers::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite)
                        .await
                        .expect("SQLite is always available");
                    body(app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) =
                        $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await
                    {
                        body(app).await;
                    }
                }
            }
        )*
    };
}
