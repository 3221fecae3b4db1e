//! Test harness: a real Canvass server on 127.0.0.1:0 with its own fresh database, generated
//! tonic clients carrying tokens, and a standard catalog to submit against.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use canvass::auth::{Role, TokenIssuer};
use canvass::configuration::ServeArgs;
use canvass::domain::ids::{CampaignId, UnitId};
use canvass::proto::v1 as pb;
use canvass::proto::v1::aggregate_service_client::AggregateServiceClient;
use canvass::proto::v1::catalog_service_client::CatalogServiceClient;
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
    /// A second connection to the server's database, to check what was (not) written.
    pub store: Store,
    pub issuer: TokenIssuer,
    pub data_dir: TempDir,
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<canvass::error::Result<()>>>,
}

impl TestApp {
    /// Boots a server on a fresh database of `backend`; `None` when that backend is not
    /// available on this machine (the reason is printed).
    pub async fn spawn(backend: Backend) -> Option<Self> {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", data_dir.path().join("canvass.db").display()),
            Backend::Postgres => crate::pg_cluster::fresh_database_url().await?,
        };
        Some(Self::spawn_with(data_dir, database_url, |_| {}).await)
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
        configure(&mut settings);
        let app = Application::build(settings.clone())
            .await
            .expect("server builds");
        let address = app.local_addr();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stop.await;
        }));
        let channel = Channel::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect()
            .await
            .expect("client connects");
        let store = Store::open(&StoreOptions {
            url: database_url.clone(),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
        })
        .await
        .expect("inspection store opens");
        let key_paths = settings.common.key_paths();
        let issuer = TokenIssuer::from_pem_file(&key_paths.private_key, ISSUER, AUDIENCE).unwrap();
        Self {
            channel,
            address,
            store,
            issuer,
            data_dir,
            database_url,
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

    pub fn admin_catalog(&self) -> CatalogServiceClient<Authed> {
        self.catalog_as(Some(&self.token(Role::Admin, &[])))
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
        self.store
            .campaign_submissions(&CampaignId::parse(campaign).unwrap())
            .await
            .unwrap()
            .len()
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

/// A city with two townships, each with two villages, and a department, parents first:
/// (id, name, kind, parent).
///
/// ```text
/// city (市)
/// ├── jinshi (金石镇)      ── jinshi-v1, jinshi-v2
/// ├── dongshan (东山办事处) ── dongshan-c1, dongshan-c2 (communities)
/// └── xinfang (市信访局, department)
/// ```
pub const SEEDED_UNITS: [(&str, &str, pb::UnitKind, Option<&str>); 8] = [
    ("city", "示范市", pb::UnitKind::City, None),
    ("jinshi", "金石镇", pb::UnitKind::Township, Some("city")),
    (
        "jinshi-v1",
        "金石一村",
        pb::UnitKind::Village,
        Some("jinshi"),
    ),
    (
        "jinshi-v2",
        "金石二村",
        pb::UnitKind::Village,
        Some("jinshi"),
    ),
    (
        "dongshan",
        "东山办事处",
        pb::UnitKind::Subdistrict,
        Some("city"),
    ),
    (
        "dongshan-c1",
        "东山一社区",
        pb::UnitKind::Community,
        Some("dongshan"),
    ),
    (
        "dongshan-c2",
        "东山二社区",
        pb::UnitKind::Community,
        Some("dongshan"),
    ),
    (
        "xinfang",
        "市信访局",
        pb::UnitKind::Department,
        Some("city"),
    ),
];

/// `unit` and every seeded unit below it.
pub fn seeded_subtree(unit: &str) -> Vec<&'static str> {
    let parent_of = |id: &str| {
        SEEDED_UNITS
            .iter()
            .find(|(u, ..)| *u == id)
            .and_then(|(.., parent)| *parent)
    };
    SEEDED_UNITS
        .iter()
        .map(|(id, ..)| *id)
        .filter(|id| std::iter::successors(Some(*id), |u| parent_of(u)).any(|a| a == unit))
        .collect()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn scored(code: &str, points: u32) -> pb::AnswerOption {
    pb::AnswerOption {
        code: code.into(),
        label: format!("{code} ({points})"),
        kind: pb::OptionKind::Scored.into(),
        points,
    }
}

pub fn dont_know() -> pb::AnswerOption {
    pb::AnswerOption {
        code: "dk".into(),
        label: "不知道".into(),
        kind: pb::OptionKind::DontKnow.into(),
        points: 0,
    }
}

pub fn refused() -> pb::AnswerOption {
    pb::AnswerOption {
        code: "refused".into(),
        label: "拒答".into(),
        kind: pb::OptionKind::Refused.into(),
        points: 0,
    }
}

/// Option codes a..e with the given points, plus "dk" and "refused".
pub fn indicator(code: &str, weight: f64, points: &[u32]) -> pb::Indicator {
    let letters = ["a", "b", "c", "d", "e", "f"];
    let mut options: Vec<_> = points
        .iter()
        .zip(letters)
        .map(|(p, l)| scored(l, *p))
        .collect();
    options.push(dont_know());
    options.push(refused());
    pb::Indicator {
        code: code.into(),
        text: format!("{code}?"),
        weight,
        options,
    }
}

/// Three indicators: security (weight 10; 100/80/50/20/0), police (4; 100/80/60/40/0) and
/// visits (4; 100/0).
pub fn standard_questionnaire() -> pb::Questionnaire {
    pb::Questionnaire {
        id: "q1".into(),
        name: "平安建设满意度".into(),
        indicators: vec![
            indicator("security", 10.0, &[100, 80, 50, 20, 0]),
            indicator("police", 4.0, &[100, 80, 60, 40, 0]),
            indicator("visits", 4.0, &[100, 0]),
        ],
        create_time: None,
    }
}

pub fn ts(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A campaign over the whole city, open from 30 days ago to 30 days ahead.
pub fn campaign(id: &str, compared: Option<&str>, min_sample: u32) -> pb::Campaign {
    pb::Campaign {
        id: id.into(),
        name: format!("2026 round {id}"),
        questionnaire_id: "q1".into(),
        scope_unit_id: "city".into(),
        open_time: Some(ts(now_seconds() - 30 * 86_400)),
        close_time: Some(ts(now_seconds() + 30 * 86_400)),
        compared_campaign_id: compared.unwrap_or_default().into(),
        min_sample,
        create_time: None,
        ..Default::default()
    }
}

pub fn answer(indicator: &str, option: &str) -> pb::Answer {
    pb::Answer {
        indicator_code: indicator.into(),
        option_code: option.into(),
    }
}

/// A valid visit to `unit` in campaign `campaign` with the given answers.
pub fn visit(campaign: &str, unit: &str, answers: Vec<pb::Answer>) -> pb::SubmitVisitRequest {
    let end = now_seconds() - 60;
    pb::SubmitVisitRequest {
        submission_id: uuid::Uuid::now_v7().to_string(),
        campaign_id: campaign.into(),
        unit_id: unit.into(),
        household_ref: format!("hh-{}", uuid::Uuid::new_v4()),
        start_time: Some(ts(end - 600)),
        end_time: Some(ts(end)),
        location: Some(pb::GeoLocation {
            latitude: 29.87,
            longitude: 121.55,
            accuracy_meters: 8.0,
        }),
        answers,
        respondent_attributes: Default::default(),
        grievances: Vec::new(),
    }
}

/// A valid phone poll of `number`.
pub fn phone_poll(
    campaign: &str,
    unit: &str,
    number: &str,
    answers: Vec<pb::Answer>,
) -> pb::SubmitPhonePollRequest {
    let end = now_seconds() - 60;
    pb::SubmitPhonePollRequest {
        submission_id: uuid::Uuid::now_v7().to_string(),
        campaign_id: campaign.into(),
        unit_id: unit.into(),
        phone_number: number.into(),
        carrier: pb::Carrier::ChinaMobile.into(),
        start_time: Some(ts(end - 300)),
        end_time: Some(ts(end)),
        answers,
        respondent_attributes: Default::default(),
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

/// The test's own model of the questionnaire: option -> points (None = not scored), weights.
/// (indicator, option) -> points, `None` for options that are not scored.
pub type PointsTable = HashMap<(String, String), Option<u32>>;

pub fn points_table() -> (PointsTable, HashMap<String, f64>) {
    let q = standard_questionnaire();
    let mut points = HashMap::new();
    let mut weights = HashMap::new();
    for i in &q.indicators {
        weights.insert(i.code.clone(), i.weight);
        for o in &i.options {
            let scored = (o.kind() == pb::OptionKind::Scored).then_some(o.points);
            points.insert((i.code.clone(), o.code.clone()), scored);
        }
    }
    (points, weights)
}

/// Expected figures of one unit, recomputed from raw stored submissions.
#[derive(Debug)]
pub struct Expected {
    pub submissions: i64,
    /// indicator -> (valid answers, mean points); only indicators with a valid answer.
    pub means: BTreeMap<String, (i64, f64)>,
    /// indicator -> "don't know" and "refused" answers.
    pub excluded: BTreeMap<String, i64>,
    /// indicator -> valid answers that chose one of its top three options, for indicators with
    /// more than three scored options.
    pub top_three: BTreeMap<String, i64>,
    pub composite: Option<f64>,
}

/// Whether `points` are among the top three of `indicator`'s scored options (fewer than three
/// score more), or `None` when it has three or fewer: DOMAIN.md's share satisfied.
pub fn in_top_three(points: &PointsTable, indicator: &str, p: u32) -> Option<bool> {
    let scored: Vec<u32> = points
        .iter()
        .filter(|((i, _), _)| i == indicator)
        .filter_map(|(_, p)| *p)
        .collect();
    (scored.len() > 3).then(|| scored.iter().filter(|&&other| other > p).count() < 3)
}

/// Recomputes a unit's figures from the raw rows: pool the answers of every submission whose
/// unit lies in `members`, average the points of scored answers, weight the means.
pub fn recompute(stored: &[canvass::store::StoredSubmission], members: &[&str]) -> Expected {
    let (points, weights) = points_table();
    let mut sums: BTreeMap<String, (i64, f64)> = BTreeMap::new();
    let mut excluded: BTreeMap<String, i64> = BTreeMap::new();
    let mut top_three: BTreeMap<String, i64> = BTreeMap::new();
    let mut submissions = 0;
    for s in stored
        .iter()
        .filter(|s| members.contains(&s.unit_id.as_str()))
    {
        submissions += 1;
        for (indicator, option) in &s.answers {
            if let Some(p) = points[&(indicator.clone(), option.clone())] {
                let e = sums.entry(indicator.clone()).or_default();
                e.0 += 1;
                e.1 += f64::from(p);
                if let Some(top) = in_top_three(&points, indicator, p) {
                    *top_three.entry(indicator.clone()).or_default() += i64::from(top);
                }
            } else {
                *excluded.entry(indicator.clone()).or_default() += 1;
            }
        }
    }
    let means: BTreeMap<String, (i64, f64)> = sums
        .into_iter()
        .map(|(k, (n, sum))| (k, (n, sum / n as f64)))
        .collect();
    let total_weight: f64 = means.keys().map(|k| weights[k]).sum();
    let composite = (!means.is_empty())
        .then(|| means.iter().map(|(k, (_, m))| weights[k] * m).sum::<f64>() / total_weight);
    Expected {
        submissions,
        means,
        excluded,
        top_three,
        composite,
    }
}

/// Checks GetUnitScore of every seeded unit against a recomputation from the campaign's stored
/// rows that count (received or approved): submission counts, every indicator's valid and
/// excluded counts and mean, and the composite.
pub async fn assert_scores_match_stored(app: &TestApp, campaign: &str) {
    let stored: Vec<_> = app
        .store
        .campaign_submissions(&CampaignId::parse(campaign).unwrap())
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.review_state.counts())
        .collect();
    for (unit, ..) in SEEDED_UNITS {
        let expected = recompute(&stored, &seeded_subtree(unit));
        let actual = unit_score(app, campaign, unit).await;
        let at = format!("{campaign}/{unit}");
        assert_eq!(actual.submission_count, expected.submissions, "{at}");
        match (actual.composite_score, expected.composite) {
            (Some(a), Some(e)) => assert!((a - e).abs() < 1e-9, "{at}: {a} vs {e}"),
            (a, e) => assert_eq!(a, e, "{at}"),
        }
        for indicator in standard_questionnaire().indicators {
            let code = indicator.code;
            let score = actual
                .indicators
                .iter()
                .find(|i| i.indicator_code == code)
                .unwrap_or_else(|| panic!("{at}: no score for {code}"));
            let excluded = expected.excluded.get(&code).copied().unwrap_or(0);
            assert_eq!(score.excluded_count, excluded, "{at}/{code}");
            match expected.means.get(&code) {
                Some((n, mean)) => {
                    assert_eq!(score.valid_count, *n, "{at}/{code}");
                    let actual_mean = score.mean.expect("a mean with valid answers");
                    assert!(
                        (actual_mean - mean).abs() < 1e-9,
                        "{at}/{code}: {actual_mean} vs {mean}"
                    );
                }
                None => assert_eq!((score.valid_count, score.mean), (0, None), "{at}/{code}"),
            }
            let reported = indicator
                .options
                .iter()
                .filter(|o| o.kind() == pb::OptionKind::Scored)
                .count()
                > 3;
            match &score.top_three {
                Some(top) => {
                    assert!(
                        reported,
                        "{at}/{code}: a top-three share with three or fewer options"
                    );
                    let count = expected.top_three.get(&code).copied().unwrap_or(0);
                    assert_eq!(top.count, count, "{at}/{code}");
                    let share =
                        (score.valid_count > 0).then(|| count as f64 / score.valid_count as f64);
                    assert_eq!(top.share, share, "{at}/{code}");
                }
                None => assert!(!reported, "{at}/{code}: no top-three share"),
            }
        }
    }
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
