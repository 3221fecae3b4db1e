//! The report subcommands print what the RPCs answer: their `--json` rows equal the RPCs'
//! figures and their tables show the same figures, over the small demo city.

use canvass::proto::v1 as pb;
use canvass::proto::v1::aggregate_service_client::AggregateServiceClient;
use canvass::proto::v1::call_center_service_client::CallCenterServiceClient;
use serde_json::Value;

use crate::demo::{client, loaded, succeeded};

fn close(value: &Value, expected: Option<f64>) -> bool {
    match (value.as_f64(), expected) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (None, None) => value.is_null(),
        _ => false,
    }
}

fn int(value: &Value, expected: Option<i64>) -> bool {
    value.as_i64() == expected && (expected.is_some() || value.is_null())
}

/// The table's body rows (after the header), as trimmed cells.
fn table_rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| l.starts_with('│'))
        .skip(1)
        .map(|l| {
            l.trim_matches('│')
                .split('┆')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn two(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.2}"))
}

fn ci(interval: Option<pb::ConfidenceInterval>) -> String {
    interval.map_or("-".into(), |c| format!("[{:.2}, {:.2}]", c.lower, c.upper))
}

#[tokio::test]
async fn reports_print_what_the_rpcs_answer() {
    let (data_dir, server, address, channel) = loaded().await;
    let dir = data_dir.path().to_path_buf();
    let run = move |args: &[&str]| succeeded(client(&dir, &address, args));
    let mut aggregates = AggregateServiceClient::new(channel.clone());
    let scores = aggregates.clone();
    let score_of = |campaign: &str, unit: &str| {
        let mut aggregates = scores.clone();
        let request = pb::GetUnitScoreRequest {
            campaign_id: campaign.into(),
            unit_id: unit.into(),
        };
        async move {
            aggregates
                .get_unit_score(request)
                .await
                .unwrap()
                .into_inner()
        }
    };

    // rankings
    let ranking = aggregates
        .list_rankings(pb::ListRankingsRequest {
            campaign_id: "demo-r2".into(),
            scope_unit_id: "demo".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let json_text = run(&["rankings", "--campaign", "demo-r2", "--json"]);
    let rows: Vec<Value> = serde_json::from_str(&json_text).unwrap();
    assert_eq!(rows.len(), ranking.entries.len());
    let table = run(&["rankings", "--campaign", "demo-r2"]);
    let lines = table_rows(&table);
    assert_eq!(lines.len(), ranking.entries.len(), "{table}");
    for ((row, line), entry) in rows.iter().zip(&lines).zip(&ranking.entries) {
        let score = score_of("demo-r2", &entry.unit_id).await;
        let interval = score.composite_conservative_interval;
        assert_eq!(row["unit_id"], entry.unit_id);
        assert_eq!(row["unit_name"], entry.unit_name);
        assert!(
            int(&row["rank"], entry.rank.map(i64::from)),
            "{row} {entry:?}"
        );
        assert!(
            int(&row["rank_change"], entry.rank_change.map(i64::from)),
            "{row}"
        );
        assert!(
            int(&row["previous_rank"], entry.previous_rank.map(i64::from)),
            "{row}"
        );
        assert!(close(&row["score"], entry.score), "{row} {entry:?}");
        assert!(
            close(&row["ci_lower"], interval.map(|c| c.lower)),
            "{row} {score:?}"
        );
        assert!(
            close(&row["ci_upper"], interval.map(|c| c.upper)),
            "{row} {score:?}"
        );
        assert_eq!(row["submission_count"], entry.submission_count);
        assert_eq!(row["sufficient_sample"], entry.sufficient_sample);
        let arrow = match entry.rank_change {
            Some(c) if c > 0 => format!("↑{c}"),
            Some(c) if c < 0 => format!("↓{}", -c),
            Some(_) => "=".into(),
            None if entry.rank.is_some() => "new".into(),
            None => String::new(),
        };
        let expected = [
            entry.rank.map_or("-".into(), |r| r.to_string()),
            entry.unit_name.clone(),
            two(entry.score),
            ci(interval),
            entry.submission_count.to_string(),
            arrow,
        ];
        assert_eq!(line[..6], expected, "{table}");
    }
    // The newest campaign is the default.
    assert_eq!(run(&["rankings", "--json"]), json_text);
    let departments: Vec<Value> =
        serde_json::from_str(&run(&["rankings", "--kind", "department", "--json"])).unwrap();
    assert_eq!(departments.len(), 10);
    assert!(
        departments
            .iter()
            .all(|r| r["unit_name"].as_str().unwrap().starts_with('市'))
    );

    // scorecard
    let now = score_of("demo-r2", "demo-dongshan").await;
    let before = score_of("demo-r1", "demo-dongshan").await;
    let card: Vec<Value> = serde_json::from_str(&run(&[
        "scorecard",
        "--campaign",
        "demo-r2",
        "--unit",
        "demo-dongshan",
        "--json",
    ]))
    .unwrap();
    assert_eq!(card.len(), 1 + now.indicators.len());
    let composite = &card[0];
    assert!(close(&composite["score"], now.composite_score));
    assert!(close(&composite["previous_score"], before.composite_score));
    let delta = now.composite_score.unwrap() - before.composite_score.unwrap();
    assert!(close(&composite["change"], Some(delta)));
    let (se1, se2) = (
        before.composite_conservative_standard_error.unwrap(),
        now.composite_conservative_standard_error.unwrap(),
    );
    let margin = 1.96 * (se1 * se1 + se2 * se2).sqrt();
    assert_eq!(composite["within_margin"], delta.abs() < margin);
    assert_eq!(composite["n"], now.submission_count);
    for row in &card[1..] {
        let code = row["indicator_code"].as_str().unwrap();
        let mine = now
            .indicators
            .iter()
            .find(|i| i.indicator_code == code)
            .unwrap();
        let old = before
            .indicators
            .iter()
            .find(|i| i.indicator_code == code)
            .unwrap();
        assert!(close(&row["score"], mine.mean), "{row}");
        assert!(close(&row["previous_score"], old.mean), "{row}");
        assert_eq!(row["n"], mine.valid_count);
        assert!(close(
            &row["ci_lower"],
            mine.confidence_interval.map(|c| c.lower)
        ));
    }
    let table = run(&[
        "scorecard",
        "--campaign",
        "demo-r2",
        "--unit",
        "demo-dongshan",
    ]);
    let lines = table_rows(&table);
    assert_eq!(lines.len(), card.len(), "{table}");
    assert_eq!(lines[0][1], two(now.composite_score), "{table}");
    assert_eq!(
        lines[0][2],
        ci(now.composite_conservative_interval),
        "{table}"
    );
    assert!(lines.iter().any(|l| l[0] == "安全感受"), "{table}");

    // laggards
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
    let rows: Vec<Value> =
        serde_json::from_str(&run(&["laggards", "--campaign", "demo-r2", "--json"])).unwrap();
    assert_eq!(rows.len(), laggards.entries.len());
    let table = run(&["laggards", "--campaign", "demo-r2"]);
    let lines = table_rows(&table);
    for ((row, line), entry) in rows.iter().zip(&lines).zip(&laggards.entries) {
        assert_eq!(row["unit_id"], entry.unit_id);
        assert_eq!(line[0], entry.unit_name);
        for (i, (got, standing)) in row["standings"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&entry.standings)
            .enumerate()
        {
            assert_eq!(got["campaign_id"], standing.campaign_id);
            assert!(int(&got["rank"], standing.rank.map(i64::from)));
            assert!(close(&got["score"], standing.score));
            let rank = format!("{}/{}", standing.rank.unwrap(), standing.ranked_count);
            assert_eq!(line[1 + 2 * i], rank, "{table}");
            assert_eq!(line[2 + 2 * i], two(standing.score), "{table}");
        }
    }

    // response-rates
    let rates = CallCenterServiceClient::new(channel.clone())
        .get_response_rates(pb::GetResponseRatesRequest {
            campaign_id: "demo-r2".into(),
            unit_id: "demo".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let rows: Vec<Value> =
        serde_json::from_str(&run(&["response-rates", "--campaign", "demo-r2", "--json"])).unwrap();
    let overall = rates.overall.unwrap();
    let mut expected = vec![("ALL".to_string(), overall)];
    for by in rates.by_carrier {
        let name = pb::Carrier::try_from(by.carrier).unwrap().as_str_name();
        expected.push((
            name.trim_start_matches("CARRIER_").into(),
            by.rates.unwrap(),
        ));
    }
    assert_eq!(rows.len(), expected.len());
    for (row, (carrier, r)) in rows.iter().zip(&expected) {
        let counts = r.counts.unwrap();
        assert_eq!(row["carrier"], carrier.as_str());
        assert_eq!(row["complete"], counts.complete);
        assert_eq!(row["refusal_and_break_off"], counts.refusal_and_break_off);
        assert_eq!(row["not_eligible"], counts.not_eligible);
        assert!(
            close(&row["rr1"], r.rr1) && close(&row["rr3"], r.rr3),
            "{row}"
        );
        assert!(
            close(&row["coop1"], r.coop1) && close(&row["con3"], r.con3),
            "{row}"
        );
        assert!(close(&row["eligibility_rate"], r.eligibility_rate), "{row}");
    }
    let table = run(&["response-rates", "--campaign", "demo-r2"]);
    let rr1 = table_rows(&table)
        .into_iter()
        .find(|l| l[0] == "RR1")
        .unwrap_or_else(|| panic!("{table}"));
    let printed: Vec<String> = expected
        .iter()
        .map(|(_, r)| r.rr1.map_or("-".into(), |v| format!("{v:.4}")))
        .collect();
    assert_eq!(rr1[1..], printed, "{table}");

    server.stop().await;
}

/// `canvass rankings | head -1` where `head` has already gone: the report stops quietly, as a
/// Unix filter does (ended by SIGPIPE), with no panic message on stderr.
#[tokio::test]
async fn a_report_whose_reader_has_gone_stops_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let (data_dir, server, address, _channel) = loaded().await;
    let mut report = crate::binary::canvass(data_dir.path())
        .args(["rankings", "--campaign", "demo-r2"])
        .args(["--server", &format!("http://{address}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader closes before the report writes a byte.
    drop(report.stdout.take());
    let output = tokio::task::spawn_blocking(move || report.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.signal(), Some(libc::SIGPIPE), "{stderr}");
    server.stop().await;
}
