//! The dashboard's pages in Chromium against the demo city: the rankings table equals
//! ListRankings, a submission shows up live, nothing is shown without a token, Chinese names
//! render in a CJK font, the unit page and the overview draw their charts.

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use canvass::proto::v1::aggregate_service_client::AggregateServiceClient;
use canvass::proto::v1::briefing_service_client::BriefingServiceClient;
use canvass::proto::v1::catalog_service_client::CatalogServiceClient;
use canvass::proto::v1::submission_service_client::SubmissionServiceClient;
use fantoccini::Locator;
use serde_json::Value;

use crate::chromium::Browser;
use crate::server::Demo;

const CAMPAIGN: &str = "demo-r2";

async fn list_rankings(demo: &Demo, scope: &str) -> Vec<pb::RankingEntry> {
    let mut client = AggregateServiceClient::new(demo.client(Role::Analyst));
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_rankings(pb::ListRankingsRequest {
                campaign_id: CAMPAIGN.into(),
                scope_unit_id: scope.into(),
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        entries.extend(page.entries);
        if page.next_page_token.is_empty() {
            return entries;
        }
        page_token = page.next_page_token;
    }
}

/// The rows of the page's rankings table: unit id, rank, name, score, sample size.
async fn table_rows(browser: &Browser) -> Vec<Vec<String>> {
    let rows = browser
        .client
        .execute(
            "return [...document.querySelectorAll('#rankings tr[data-unit]')].map(tr => [
                tr.dataset.unit,
                tr.querySelector('.rank').textContent,
                tr.querySelector('.name').textContent,
                tr.querySelector('.score').textContent,
                tr.querySelector('.sample').textContent,
            ])",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(rows).unwrap()
}

fn expected_rows(entries: &[pb::RankingEntry]) -> Vec<Vec<String>> {
    entries
        .iter()
        .map(|e| {
            vec![
                e.unit_id.clone(),
                e.rank.map_or_else(|| "–".into(), |r| r.to_string()),
                e.unit_name.clone(),
                e.score.map_or_else(|| "–".into(), |s| format!("{s:.2}")),
                e.submission_count.to_string(),
            ]
        })
        .collect()
}

async fn status(url: &str, token: Option<&str>) -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let code = response.status().as_u16();
    (code, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rankings_equal_list_rankings_update_live_and_need_a_token() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let demo = Demo::start().await;
    let entries = list_rankings(&demo, "demo").await;
    assert!(
        entries.iter().any(|e| e.rank.is_none()),
        "a unit below the minimum sample"
    );

    // A bare HTTP client gets no figures without a token, nor with another role's.
    let fragments = [
        format!("/fragments/campaigns/{CAMPAIGN}/rankings"),
        format!("/fragments/campaigns/{CAMPAIGN}"),
        format!(
            "/fragments/campaigns/{CAMPAIGN}/units/{}",
            entries[0].unit_id
        ),
        format!("/events/campaigns/{CAMPAIGN}"),
        "/fragments/campaigns".into(),
    ];
    let field_worker = demo.token(Role::FieldWorker);
    for path in &fragments {
        let (code, body) = status(&demo.url(path), None).await;
        assert_eq!(code, 401, "{path}: {body}");
        assert!(!body.contains(&entries[0].unit_name), "{path}: {body}");
        let (code, body) = status(&demo.url(path), Some("not-a-token")).await;
        assert_eq!(code, 401, "{path}: {body}");
        let (code, body) = status(&demo.url(path), Some(&field_worker)).await;
        assert_eq!(code, 403, "{path}: {body}");
    }

    // The page without a token: the sign-in form and no figures.
    let c = &browser.client;
    c.goto(&demo.url(&format!("/campaigns/{CAMPAIGN}/rankings")))
        .await
        .unwrap();
    browser
        .wait_for(
            "the sign-in form",
            "return !document.getElementById('signin').hidden",
        )
        .await;
    let shown: Value = c
        .execute(
            "return [document.querySelectorAll('#figures *, table, svg').length, document.body.innerText]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(shown[0], 0, "{shown}");
    for entry in &entries {
        assert!(
            !shown[1].as_str().unwrap().contains(&entry.unit_name),
            "{shown}"
        );
    }

    // Signed in: the rows of ListRankings, in its order.
    browser.sign_in(&demo.token(Role::Analyst)).await;
    browser
        .wait_for(
            "the rankings table",
            "return document.querySelectorAll('#rankings tr[data-unit]').length",
        )
        .await;
    assert_eq!(table_rows(&browser).await, expected_rows(&entries));

    // Chinese names are drawn with real glyphs: each character of a name differently, none
    // like a code point no font has (which every renderer draws as the same box).
    let glyphs = c
        .execute(
            r#"const cell = document.querySelector('#rankings td.name a');
            const style = getComputedStyle(cell);
            const canvas = document.createElement('canvas');
            canvas.width = 48; canvas.height = 48;
            const ctx = canvas.getContext('2d', { willReadFrequently: true });
            const draw = (ch) => {
              ctx.clearRect(0, 0, 48, 48);
              ctx.font = '36px ' + style.fontFamily;
              ctx.textBaseline = 'top';
              ctx.fillText(ch, 4, 4);
              return Array.from(ctx.getImageData(0, 0, 48, 48).data).join(',');
            };
            const chars = [...new Set(cell.textContent)];
            const drawn = chars.map(draw);
            const boxes = [draw('\uE000'), draw('\u0378')];
            return { name: cell.textContent, chars: chars.length,
                     distinct: new Set(drawn).size,
                     boxes: drawn.filter(d => boxes.includes(d)).length,
                     blank: drawn.filter(d => !/[1-9]/.test(d)).length };"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(glyphs["name"], entries[0].unit_name.as_str(), "{glyphs}");
    assert_eq!(glyphs["distinct"], glyphs["chars"], "tofu: {glyphs}");
    assert_eq!(glyphs["boxes"], 0, "tofu: {glyphs}");
    assert_eq!(glyphs["blank"], 0, "{glyphs}");

    // Live: once the event stream is open, a new visit changes the table without a reload.
    browser
        .wait_for(
            "the event stream",
            "return document.getElementById('figures').dataset.streams",
        )
        .await;
    let township = entries.iter().find(|e| e.rank.is_some()).unwrap();
    let village = list_rankings(&demo, &township.unit_id).await[0]
        .unit_id
        .clone();
    submit_visit(&demo, &village).await;
    let wanted = township.submission_count + 1;
    browser
        .wait_for(
            "the new submission on the page",
            &format!(
                "const cell = document.querySelector('#rankings tr[data-unit=\"{}\"] .sample');
                 return cell && cell.textContent === '{wanted}'",
                township.unit_id
            ),
        )
        .await;
    let now = list_rankings(&demo, "demo").await;
    assert_eq!(table_rows(&browser).await, expected_rows(&now));
    let reloaded: Value = c
        .execute(
            "return performance.getEntriesByType('navigation').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(reloaded, 1, "updated in place, not by reloading the page");

    browser.close().await;
    demo.stop().await;
}

/// Submits a visit to `village` answering every indicator's first option.
async fn submit_visit(demo: &Demo, village: &str) {
    let questionnaire = CatalogServiceClient::new(demo.client(Role::Analyst))
        .get_questionnaire(pb::GetQuestionnaireRequest {
            id: "demo-safety".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let answers = questionnaire
        .indicators
        .iter()
        .map(|i| pb::Answer {
            indicator_code: i.code.clone(),
            option_code: i.options[0].code.clone(),
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    SubmissionServiceClient::new(demo.client(Role::Admin))
        .submit_visit(pb::SubmitVisitRequest {
            submission_id: uuid::Uuid::now_v7().to_string(),
            campaign_id: CAMPAIGN.into(),
            unit_id: village.into(),
            household_ref: "浏览器测试 1组1号".into(),
            start_time: at(now - 900),
            end_time: at(now - 60),
            location: Some(pb::GeoLocation {
                latitude: 27.73,
                longitude: 112.53,
                accuracy_meters: 8.0,
            }),
            answers,
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unit_page_and_the_overview_draw_their_charts() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let demo = Demo::start().await;
    let entries = list_rankings(&demo, "demo").await;
    let unit = &entries[0];
    let questionnaire = CatalogServiceClient::new(demo.client(Role::Analyst))
        .get_questionnaire(pb::GetQuestionnaireRequest {
            id: "demo-safety".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let indicators = questionnaire.indicators.len();
    let c = &browser.client;

    c.goto(&demo.url(&format!("/campaigns/{CAMPAIGN}/units/{}", unit.unit_id)))
        .await
        .unwrap();
    browser.sign_in(&demo.token(Role::Analyst)).await;
    let charts = browser
        .wait_for(
            "the unit's charts",
            "const i = document.querySelector('svg.indicators');
             const h = document.querySelector('svg.history');
             return i && h && [i.querySelectorAll('circle.point').length,
                               i.querySelectorAll('line.median').length,
                               h.querySelectorAll('polyline.line').length,
                               h.querySelectorAll('circle.point').length,
                               i.getBoundingClientRect().width,
                               document.querySelector('h1').textContent]",
        )
        .await;
    assert_eq!(charts[0], indicators, "{charts}");
    assert_eq!(charts[1], indicators, "{charts}");
    assert_eq!(charts[2], 1, "{charts}");
    assert_eq!(charts[3], 2, "both rounds: {charts}");
    assert!(charts[4].as_f64().unwrap() > 300.0, "{charts}");
    assert_eq!(charts[5], unit.unit_name.as_str(), "{charts}");
    // A link back to the rankings, followed with the token kept.
    c.find(Locator::LinkText("排名"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for(
            "the rankings after following a link",
            "return document.querySelectorAll('#rankings tr[data-unit]').length",
        )
        .await;

    let score = AggregateServiceClient::new(demo.client(Role::Analyst))
        .get_unit_score(pb::GetUnitScoreRequest {
            campaign_id: CAMPAIGN.into(),
            unit_id: "demo".into(),
        })
        .await
        .unwrap()
        .into_inner();
    c.goto(&demo.url(&format!("/campaigns/{CAMPAIGN}")))
        .await
        .unwrap();
    let overview = browser
        .wait_for(
            "the overview's chart",
            "const b = document.querySelector('svg.bars');
             return b && [b.querySelectorAll('rect.bar').length,
                          document.getElementById('composite').textContent,
                          document.querySelectorAll('section.group').length,
                          [...b.querySelectorAll('text.value')].map(t => t.textContent)]",
        )
        .await;
    assert_eq!(overview[0], indicators, "{overview}");
    let composite = score
        .weighted_composite_score
        .or(score.composite_score)
        .expect("the city's composite");
    assert_eq!(
        overview[1],
        format!("{composite:.2}").as_str(),
        "{overview}"
    );
    assert!(overview[2].as_u64().unwrap() >= 1, "{overview}");
    // Each indicator's score and change as GetCampaignBriefing reports them, a change within
    // its margin of error marked "≈", never as a rise or fall.
    let briefing = BriefingServiceClient::new(demo.client(Role::Analyst))
        .get_campaign_briefing(pb::GetCampaignBriefingRequest {
            campaign_id: CAMPAIGN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let expected: Vec<String> = briefing
        .indicators
        .iter()
        .map(|i| {
            let value = i.estimate.as_ref().unwrap().score;
            let c = i.change.as_ref().unwrap();
            format!("{value:.2} {}", mark_of(c))
        })
        .collect();
    assert_eq!(overview[3], serde_json::json!(expected), "{overview}");
    assert!(
        expected.iter().any(|e| e.ends_with('≈')),
        "the demo has a change within its margin: {expected:?}"
    );
    // The first group's risers, each with its score change judged against its margin.
    let marks = browser
        .wait_for(
            "the risers' changes",
            "const l = document.querySelector('section.group div.list:nth-child(3)');
             return l && [...l.querySelectorAll('.moved-change')].map(t => t.textContent)",
        )
        .await;
    let risers: Vec<String> = briefing.peer_groups[0]
        .risers
        .iter()
        .map(|r| match &r.change {
            Some(c) => format!("({})", mark_of(c)),
            None => "()".into(),
        })
        .collect();
    assert!(!risers.is_empty());
    assert_eq!(marks, serde_json::json!(risers), "{marks}");

    browser.close().await;
    demo.stop().await;
}

/// A change as the pages print it: signed, then ↑ or ↓ beyond its margin of error, ≈ within.
fn mark_of(c: &pb::ScoreChange) -> String {
    let sign = if c.change > 0.0 {
        "+"
    } else if c.change < 0.0 {
        "−"
    } else {
        "±"
    };
    let mark = match (c.beyond_margin, c.change > 0.0) {
        (false, _) => "≈",
        (true, true) => "↑",
        (true, false) => "↓",
    };
    format!("{sign}{:.2} {mark}", c.change.abs())
}
