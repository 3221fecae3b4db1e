//! `canvass demo` against a running server: the city it loads has what the reports are for
//! (risers, fallers, a tie, a unit below the minimum sample, a bottom five over both rounds),
//! checked through the RPCs; running it again is refused.

use std::path::Path;
use std::process::{Child, Output};

use canvass::cli::client::{Bearer, Connection};
use canvass::proto::v1 as pb;
use canvass::proto::v1::aggregate_service_client::AggregateServiceClient;
use canvass::proto::v1::call_center_service_client::CallCenterServiceClient;
use canvass::proto::v1::review_service_client::ReviewServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::binary::{canvass, serve, stop};

/// Runs a client subcommand of the binary against the server at `address`.
pub fn client(data_dir: &Path, address: &str, args: &[&str]) -> Output {
    canvass(data_dir)
        .args(args)
        .args(["--server", &format!("http://{address}")])
        .output()
        .unwrap()
}

pub fn succeeded(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A channel whose calls carry an admin token minted by the binary.
pub async fn admin(data_dir: &Path, address: &str) -> Connection {
    let token = succeeded(
        canvass(data_dir)
            .args(["token", "--role", "admin"])
            .output()
            .unwrap(),
    );
    let bearer = Bearer::new(token.trim()).expect("a token is a header value");
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    InterceptedService::new(channel, bearer)
}

/// A server that is killed if the test fails before stopping it, so no server outlives its
/// test.
pub struct Server(Option<Child>);

impl Server {
    /// Stops the server with SIGTERM and checks its clean exit.
    pub async fn stop(mut self) {
        let child = self.0.take().expect("stopped once");
        tokio::task::spawn_blocking(move || stop(child))
            .await
            .unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A server with the small demo city loaded: (data dir, server, address, admin channel).
pub async fn loaded() -> (tempfile::TempDir, Server, String, Connection) {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(canvass(data_dir.path()));
    let server = Server(Some(server));
    let path = data_dir.path().to_path_buf();
    let at = address.clone();
    let stdout =
        tokio::task::spawn_blocking(move || succeeded(client(&path, &at, &["demo", "--small"])))
            .await
            .unwrap();
    assert!(
        stdout.contains("demo-r1") && stdout.contains("demo-r2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("canvass rankings --campaign demo-r2"),
        "{stdout}"
    );
    let channel = admin(data_dir.path(), &address).await;
    (data_dir, server, address, channel)
}

pub fn name_of(entries: &[pb::RankingEntry], name: &str) -> pb::RankingEntry {
    entries
        .iter()
        .find(|e| e.unit_name == name)
        .unwrap_or_else(|| panic!("{name} in {entries:#?}"))
        .clone()
}

#[tokio::test]
async fn demo_loads_a_city_whose_rounds_have_risers_fallers_ties_and_laggards() {
    let (data_dir, server, address, channel) = loaded().await;
    let mut aggregates = AggregateServiceClient::new(channel.clone());

    let ranking = aggregates
        .list_rankings(pb::ListRankingsRequest {
            campaign_id: "demo-r2".into(),
            scope_unit_id: "demo".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ranking.compared_campaign_id, "demo-r1");
    assert_eq!(ranking.peer_count, 20, "townships and sub-districts");
    let entries = &ranking.entries;
    let short = name_of(entries, "育塅乡");
    assert!(
        !short.sufficient_sample && short.rank.is_none(),
        "{short:?}"
    );
    assert_eq!(ranking.ranked_count, 19);
    let tied = entries
        .windows(2)
        .any(|w| w[0].rank.is_some() && w[0].rank == w[1].rank);
    assert!(tied, "a tie in {entries:#?}");
    assert_eq!(
        name_of(entries, "潭市镇").rank,
        name_of(entries, "山枣镇").rank
    );

    let movers = aggregates
        .list_rank_movers(pb::ListRankMoversRequest {
            campaign_id: "demo-r2".into(),
            scope_unit_id: "demo".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let riser = name_of(&movers.risers, "东山办事处");
    assert!(riser.rank_change.unwrap() >= 8, "{riser:?}");
    let faller = name_of(&movers.fallers, "中沙镇");
    assert!(faller.rank_change.unwrap() <= -8, "{faller:?}");

    let laggards = aggregates
        .list_persistent_laggards(pb::ListPersistentLaggardsRequest {
            campaign_id: "demo-r2".into(),
            scope_unit_id: "demo".into(),
            bottom_n: 5,
            campaign_count: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(laggards.campaign_ids, ["demo-r2", "demo-r1"]);
    let names: Vec<&str> = laggards
        .entries
        .iter()
        .map(|e| e.unit_name.as_str())
        .collect();
    for name in ["棋梓镇", "月山镇", "龙洞镇", "毛田镇"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    for entry in &laggards.entries {
        for standing in &entry.standings {
            assert!(
                standing.rank.unwrap() > standing.ranked_count - 5,
                "{entry:?}"
            );
        }
    }

    let departments = aggregates
        .list_rankings(pb::ListRankingsRequest {
            campaign_id: "demo-r2".into(),
            scope_unit_id: "demo".into(),
            unit_kinds: vec![pb::UnitKind::Department.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(departments.peer_count, 10);
    assert_eq!(
        departments.ranked_count, 9,
        "one department below the minimum"
    );

    let mut review = ReviewServiceClient::new(channel.clone());
    for campaign in ["demo-r1", "demo-r2"] {
        for state in [
            pb::ReviewState::Received,
            pb::ReviewState::Flagged,
            pb::ReviewState::Approved,
            pb::ReviewState::Rejected,
        ] {
            let late = review
                .list_submissions(pb::ListSubmissionsRequest {
                    campaign_id: campaign.into(),
                    review_state: state.into(),
                    quality_flag: pb::QualityFlag::LateUpload.into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            assert!(late.submissions.is_empty(), "{campaign}: {late:?}");
        }
        let summary = review
            .get_grievance_summary(pb::GetGrievanceSummaryRequest {
                campaign_id: campaign.into(),
                unit_id: "demo".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(summary.raised > 0, "{campaign}: {summary:?}");
    }

    let rates = CallCenterServiceClient::new(channel.clone())
        .get_response_rates(pb::GetResponseRatesRequest {
            campaign_id: "demo-r2".into(),
            unit_id: "demo".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rates.by_carrier.len(), 3, "{rates:?}");
    let counts = rates.overall.unwrap().counts.unwrap();
    assert!(counts.complete > 0 && counts.refusal_and_break_off > 0 && counts.not_eligible > 0);

    let again = client(data_dir.path(), &address, &["demo", "--small"]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("--prefix"), "{stderr}");

    server.stop().await;
}

/// The demo sends hundreds of calls with one token, faster than a tight per-subject limit
/// allows: it waits as each refusal's RetryInfo says and loads the whole city.
#[tokio::test]
async fn demo_loads_under_a_tight_rate_limit() {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, address) = crate::binary::serve_with(
        canvass(data_dir.path()),
        &["--rate-limit-per-subject", "50:50"],
    );
    let server = Server(Some(server));
    let path = data_dir.path().to_path_buf();
    let at = address.clone();
    let output = tokio::task::spawn_blocking(move || client(&path, &at, &["demo", "--small"]))
        .await
        .unwrap();
    let stdout = succeeded(output);
    assert!(stdout.contains("demo-r2"), "{stdout}");
    server.stop().await;
}
