//! `canvass export`: CSV and Parquet files through the real binary, read back and compared
//! with what was submitted.

use std::collections::HashMap;
use std::path::Path;

use canvass::proto::v1 as pb;
use canvass::proto::v1::call_center_service_client::CallCenterServiceClient;
use canvass::proto::v1::catalog_service_client::CatalogServiceClient;
use canvass::proto::v1::submission_service_client::SubmissionServiceClient;

use crate::binary::{canvass, serve, stop};
use crate::import::{QUESTIONNAIRE, admin_channel, client};

const NUMBER: &str = "+8613800138000";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn answer(indicator: &str, option: &str) -> pb::Answer {
    pb::Answer {
        indicator_code: indicator.into(),
        option_code: option.into(),
    }
}

/// A city with a township and a village, the JSON questionnaire, campaign c1, a visit that
/// answers "don't know", and a phone poll of a known number with one call attempt before it.
async fn seed(data_dir: &Path, address: &str) -> (String, String) {
    let units = data_dir.join("units.csv");
    std::fs::write(
        &units,
        "id,name,kind,parent_id\ncity,示范市,city,\njinshi,金石镇,township,city\nv1,金石一村,village,jinshi\n",
    )
    .unwrap();
    assert!(
        client(
            data_dir,
            address,
            &["import", "units", units.to_str().unwrap()]
        )
        .status
        .success()
    );
    let q = data_dir.join("q.json");
    std::fs::write(&q, QUESTIONNAIRE).unwrap();
    assert!(
        client(
            data_dir,
            address,
            &["import", "questionnaire", q.to_str().unwrap()]
        )
        .status
        .success()
    );
    let channel = admin_channel(data_dir, address).await;
    CatalogServiceClient::new(channel.clone())
        .create_campaign(pb::CreateCampaignRequest {
            campaign: Some(pb::Campaign {
                id: "c1".into(),
                name: "2026 第一轮".into(),
                questionnaire_id: "q1".into(),
                scope_unit_id: "city".into(),
                open_time: ts(now() - 86_400),
                close_time: ts(now() + 86_400),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let mut submissions = SubmissionServiceClient::new(channel.clone());
    let visit_id = uuid::Uuid::now_v7().to_string();
    submissions
        .submit_visit(pb::SubmitVisitRequest {
            submission_id: visit_id.clone(),
            campaign_id: "c1".into(),
            unit_id: "v1".into(),
            household_ref: "12-3".into(),
            start_time: ts(now() - 1200),
            end_time: ts(now() - 600),
            location: Some(pb::GeoLocation {
                latitude: 29.87,
                longitude: 121.55,
                accuracy_meters: 8.0,
            }),
            answers: vec![answer("security", "b"), answer("police", "dk")],
            ..Default::default()
        })
        .await
        .unwrap();
    CallCenterServiceClient::new(channel.clone())
        .log_call_attempt(pb::LogCallAttemptRequest {
            attempt_id: uuid::Uuid::now_v7().to_string(),
            campaign_id: "c1".into(),
            unit_id: "jinshi".into(),
            phone_number: NUMBER.into(),
            carrier: pb::Carrier::ChinaTelecom.into(),
            attempt_time: ts(now() - 900),
            disposition: pb::CallDisposition::Busy.into(),
        })
        .await
        .unwrap();
    let poll_id = uuid::Uuid::now_v7().to_string();
    submissions
        .submit_phone_poll(pb::SubmitPhonePollRequest {
            submission_id: poll_id.clone(),
            campaign_id: "c1".into(),
            unit_id: "jinshi".into(),
            phone_number: NUMBER.into(),
            carrier: pb::Carrier::ChinaTelecom.into(),
            start_time: ts(now() - 500),
            end_time: ts(now() - 300),
            answers: vec![answer("security", "rf"), answer("police", "a")],
            ..Default::default()
        })
        .await
        .unwrap();
    (visit_id, poll_id)
}

fn assert_no_number(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(
        !text.contains(NUMBER.trim_start_matches("+86")),
        "the phone number is in the file"
    );
}

#[tokio::test]
async fn csv_export_reads_back_as_submitted() {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(canvass(data_dir.path()));
    let (visit_id, poll_id) = seed(data_dir.path(), &address).await;
    let out = data_dir.path().join("c1.csv");
    let output = client(
        data_dir.path(),
        &address,
        &[
            "export",
            "--campaign",
            "c1",
            "--format",
            "csv",
            "--bom",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!data_dir.path().join("c1.csv.partial").exists());
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "a BOM for Excel");
    assert_no_number(&bytes);

    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&header[header.len() - 2..], ["security", "police"]);
    let rows: Vec<HashMap<String, String>> = reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 2);
    let (visit, poll) = (&rows[0], &rows[1]);
    assert_eq!(visit["submission_id"], visit_id);
    assert_eq!(visit["unit_name"], "金石一村");
    assert_eq!(visit["ancestor_ids"], "city/jinshi");
    assert_eq!(visit["ancestor_names"], "示范市/金石镇");
    assert_eq!(
        (visit["channel"].as_str(), visit["carrier"].as_str()),
        ("visit", "")
    );
    assert_eq!(
        (visit["security"].as_str(), visit["police"].as_str()),
        ("80", "DK")
    );
    assert_eq!(visit["review_state"], "received");
    assert_eq!(visit["latitude"], "29.87");
    assert_eq!(poll["submission_id"], poll_id);
    assert_eq!(
        (poll["channel"].as_str(), poll["carrier"].as_str()),
        ("phone", "china_telecom")
    );
    assert_eq!(
        (poll["security"].as_str(), poll["police"].as_str()),
        ("RF", "100")
    );
    assert_eq!(poll["respondent_hash"].len(), 64);
    assert_eq!(poll["end_time"].len(), "2026-11-28 02:09:00".len());

    // Call attempts, filtered to the township.
    let calls = data_dir.path().join("calls.csv");
    let output = client(
        data_dir.path(),
        &address,
        &[
            "export",
            "--campaign",
            "c1",
            "--what",
            "calls",
            "--unit",
            "jinshi",
            "--out",
            calls.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&calls).unwrap();
    assert_no_number(&bytes);
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1);
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&records[0][at("disposition")], "busy");
    assert_eq!(
        &records[0][at("respondent_hash")],
        poll["respondent_hash"].as_str()
    );

    // A filter that matches nothing writes a header-only file; an unknown campaign fails and
    // leaves no file.
    let none = data_dir.path().join("none.csv");
    let output = client(
        data_dir.path(),
        &address,
        &[
            "export",
            "--campaign",
            "c1",
            "--state",
            "rejected",
            "--out",
            none.to_str().unwrap(),
        ],
    );
    assert!(output.status.success());
    assert_eq!(std::fs::read_to_string(&none).unwrap().lines().count(), 1);
    let missing = data_dir.path().join("missing.csv");
    let output = client(
        data_dir.path(),
        &address,
        &[
            "export",
            "--campaign",
            "c9",
            "--out",
            missing.to_str().unwrap(),
        ],
    );
    assert!(!output.status.success());
    assert!(!missing.exists() && !data_dir.path().join("missing.csv.partial").exists());

    tokio::task::spawn_blocking(move || stop(server))
        .await
        .unwrap();
}

#[tokio::test]
async fn parquet_export_reads_back_with_the_parquet_reader() {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{TimestampMicrosecondType, UInt8Type};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let data_dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(canvass(data_dir.path()));
    let (visit_id, poll_id) = seed(data_dir.path(), &address).await;
    let out = data_dir.path().join("c1.parquet");
    let output = client(
        data_dir.path(),
        &address,
        &[
            "export",
            "--campaign",
            "c1",
            "--format",
            "parquet",
            "--batch-size",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_number(&std::fs::read(&out).unwrap());

    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.len(), 1, "two rows read back as one batch");
    let batch = &batches[0];
    assert_eq!(batch.num_rows(), 2);
    let text = |name: &str, row: usize| {
        let column = batch.column_by_name(name).unwrap().as_string::<i32>();
        (!column.is_null(row)).then(|| column.value(row).to_string())
    };
    let points = |name: &str, row: usize| {
        let column = batch
            .column_by_name(name)
            .unwrap()
            .as_primitive::<UInt8Type>();
        (!column.is_null(row)).then(|| column.value(row))
    };
    assert_eq!(text("submission_id", 0).unwrap(), visit_id);
    assert_eq!(text("submission_id", 1).unwrap(), poll_id);
    assert_eq!(text("unit_name", 0).unwrap(), "金石一村");
    assert_eq!(text("ancestor_names", 1).unwrap(), "示范市");
    assert_eq!(
        (points("security", 0), text("security_missing", 0)),
        (Some(80), None)
    );
    assert_eq!(
        (points("police", 0), text("police_missing", 0).as_deref()),
        (None, Some("DK"))
    );
    assert_eq!(
        (
            points("security", 1),
            text("security_missing", 1).as_deref()
        ),
        (None, Some("RF"))
    );
    assert_eq!(points("police", 1), Some(100));
    assert_eq!(text("carrier", 1).as_deref(), Some("china_telecom"));
    let ends = batch
        .column_by_name("end_time")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert!(ends.value(0) < ends.value(1));
    assert!((ends.value(1) / 1_000_000 - (now() - 300)).abs() < 60);

    tokio::task::spawn_blocking(move || stop(server))
        .await
        .unwrap();
}
