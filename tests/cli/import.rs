//! `canvass import`: a catalog from a spreadsheet's CSV file and a questionnaire from a JSON
//! file, through the real binary against a real server.

use std::path::Path;
use std::process::Output;

use canvass::cli::client::{Bearer, Connection};
use canvass::proto::v1 as pb;
use canvass::proto::v1::catalog_service_client::CatalogServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::binary::{canvass, serve, stop};

/// An admin token minted by the `token` subcommand from the data directory's key.
pub fn admin_token(data_dir: &Path) -> String {
    let output = canvass(data_dir)
        .args(["token", "--role", "admin", "--subject", "ops"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// A channel to the server whose calls carry an admin token.
pub async fn admin_channel(data_dir: &Path, address: &str) -> Connection {
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer = Bearer::new(&admin_token(data_dir)).expect("a token is a header value");
    InterceptedService::new(channel, bearer)
}

/// Runs a client subcommand against the server at `address`.
pub fn client(data_dir: &Path, address: &str, args: &[&str]) -> Output {
    canvass(data_dir)
        .args(args)
        .args(["--server", &format!("http://{address}")])
        .output()
        .unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Villages before their township, with a BOM as Excel writes it, an area on the city and an
/// extra column the import ignores.
const GOOD: &str = "\u{feff}id,name,kind,parent_id,latitude,longitude,radius,note\n\
jinshi-v1,金石一村,village,jinshi,,,,\n\
jinshi-v2,金石二村,VILLAGE,jinshi,,,,备注\n\
jinshi,金石镇,township,city,,,,\n\
city,示范市,UNIT_KIND_CITY,,29.87,121.55,20000,\n";

#[tokio::test]
async fn imports_a_spreadsheet_of_units_and_reruns_harmlessly() {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(canvass(data_dir.path()));
    let file = data_dir.path().join("units.csv");
    std::fs::write(&file, GOOD).unwrap();
    let file = file.to_str().unwrap();

    let first = client(data_dir.path(), &address, &["import", "units", file]);
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "{stderr}");
    assert!(
        stdout.contains("4 units created, 0 already present"),
        "{stdout}"
    );
    let again = client(data_dir.path(), &address, &["import", "units", file]);
    assert!(again.status.success());
    assert!(
        text(&again)
            .0
            .contains("0 units created, 4 already present")
    );

    let mut catalog = CatalogServiceClient::new(admin_channel(data_dir.path(), &address).await);
    let city = catalog
        .get_unit(pb::GetUnitRequest { id: "city".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(city.name, "示范市");
    assert_eq!(city.area.unwrap().radius_meters, 20_000.0);
    let village = catalog
        .get_unit(pb::GetUnitRequest {
            id: "jinshi-v2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            village.name.as_str(),
            village.kind(),
            village.parent_id.as_str()
        ),
        ("金石二村", pb::UnitKind::Village, "jinshi")
    );

    tokio::task::spawn_blocking(move || stop(server))
        .await
        .unwrap();
}

#[tokio::test]
async fn names_every_bad_line_and_imports_nothing() {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(canvass(data_dir.path()));
    let file = data_dir.path().join("bad.csv");
    std::fs::write(
        &file,
        "id,name,kind,parent_id,latitude,longitude,radius\n\
         city,示范市,city,,,,\n\
         jinshi,金石镇,vilage,city,,,\n\
         v1,一村,village,nowhere,,,\n\
         city,重复,city,,,,\n\
         v2,二村,village,city,north,121,500\n\
         a,甲,township,b,,,\n\
         b,乙,township,a,,,\n",
    )
    .unwrap();
    let output = client(
        data_dir.path(),
        &address,
        &["import", "units", file.to_str().unwrap()],
    );
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    for expected in [
        "line 3, kind: \"vilage\" is not a unit kind",
        "line 4, parent_id: no unit nowhere",
        "line 5, id: duplicates the id city of line 2",
        "line 6, latitude:",
        "line 7, parent_id: forms a cycle",
        "line 8, parent_id: forms a cycle",
        "nothing was imported",
    ] {
        assert!(
            stderr.contains(expected),
            "{expected:?} missing from:\n{stderr}"
        );
    }
    let mut catalog = CatalogServiceClient::new(admin_channel(data_dir.path(), &address).await);
    let units = catalog
        .list_units(pb::ListUnitsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .units;
    assert!(units.is_empty(), "{units:?}");

    let missing = data_dir.path().join("short.csv");
    std::fs::write(&missing, "id,name\ncity,示范市\n").unwrap();
    let output = client(
        data_dir.path(),
        &address,
        &["import", "units", missing.to_str().unwrap()],
    );
    assert!(!output.status.success());
    assert!(
        text(&output)
            .1
            .contains("lacks the column(s) kind, parent_id"),
        "{}",
        text(&output).1
    );

    tokio::task::spawn_blocking(move || stop(server))
        .await
        .unwrap();
}

pub const QUESTIONNAIRE: &str = r#"{
  "id": "q1",
  "name": "平安建设满意度",
  "indicators": [
    {"code": "security", "text": "您对本地的安全感受如何?", "weight": 10, "options": [
      {"code": "a", "label": "安全", "points": 100},
      {"code": "b", "label": "比较安全", "kind": "scored", "points": 80},
      {"code": "c", "label": "不安全", "points": 0},
      {"code": "dk", "label": "不知道", "kind": "dont_know"},
      {"code": "rf", "label": "拒答", "kind": "refused"}]},
    {"code": "police", "text": "您对公安民警的整体形象满意吗?", "weight": 4, "options": [
      {"code": "a", "label": "满意", "points": 100},
      {"code": "b", "label": "不满意", "points": 0},
      {"code": "dk", "label": "不知道", "kind": "dont_know"}]}
  ]
}"#;

#[tokio::test]
async fn imports_a_questionnaire_from_json() {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(canvass(data_dir.path()));
    let file = data_dir.path().join("q1.json");
    std::fs::write(&file, QUESTIONNAIRE).unwrap();
    let output = client(
        data_dir.path(),
        &address,
        &["import", "questionnaire", file.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", text(&output).1);

    let mut catalog = CatalogServiceClient::new(admin_channel(data_dir.path(), &address).await);
    let q = catalog
        .get_questionnaire(pb::GetQuestionnaireRequest { id: "q1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(q.indicators.len(), 2);
    let security = &q.indicators[0];
    assert_eq!(
        (security.code.as_str(), security.weight),
        ("security", 10.0)
    );
    let kinds: Vec<_> = security
        .options
        .iter()
        .map(|o| (o.code.as_str(), o.kind(), o.points))
        .collect();
    assert_eq!(
        kinds,
        [
            ("a", pb::OptionKind::Scored, 100),
            ("b", pb::OptionKind::Scored, 80),
            ("c", pb::OptionKind::Scored, 0),
            ("dk", pb::OptionKind::DontKnow, 0),
            ("rf", pb::OptionKind::Refused, 0),
        ]
    );

    // The server's field names point into the file.
    let bad = data_dir.path().join("bad.json");
    std::fs::write(
        &bad,
        QUESTIONNAIRE
            .replace("\"id\": \"q1\"", "\"id\": \"q2\"")
            .replace("\"points\": 80", "\"points\": 180"),
    )
    .unwrap();
    let output = client(
        data_dir.path(),
        &address,
        &["import", "questionnaire", bad.to_str().unwrap()],
    );
    assert!(!output.status.success());
    assert!(
        text(&output)
            .1
            .contains("questionnaire.indicators[0].options[1].points"),
        "{}",
        text(&output).1
    );

    tokio::task::spawn_blocking(move || stop(server))
        .await
        .unwrap();
}
