//! `canvass briefing` against a server with the small demo city: Markdown and HTML, in Chinese
//! and English, with the figures the RPCs answer and every change within its margin worded so.

use canvass::proto::v1 as pb;
use canvass::proto::v1::aggregate_service_client::AggregateServiceClient;
use canvass::proto::v1::briefing_service_client::BriefingServiceClient;
use canvass::proto::v1::review_service_client::ReviewServiceClient;

use crate::demo::{client, loaded, succeeded};

fn two(v: f64) -> String {
    format!("{v:.2}")
}

#[tokio::test]
async fn briefings_render_the_rpc_figures_in_markdown_and_html_in_both_languages() {
    let (data_dir, server, address, channel) = loaded().await;
    let dir = data_dir.path().to_path_buf();
    let at = address.clone();
    let run = move |args: &[&str]| succeeded(client(&dir, &at, args));

    let briefing = BriefingServiceClient::new(channel.clone())
        .get_campaign_briefing(pb::GetCampaignBriefingRequest {
            campaign_id: "demo-r2".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let score = AggregateServiceClient::new(channel.clone())
        .get_unit_score(pb::GetUnitScoreRequest {
            campaign_id: "demo-r2".into(),
            unit_id: "demo".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let movers = AggregateServiceClient::new(channel.clone())
        .list_rank_movers(pb::ListRankMoversRequest {
            campaign_id: "demo-r2".into(),
            scope_unit_id: "demo".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let grievances = ReviewServiceClient::new(channel.clone())
        .get_grievance_summary(pb::GetGrievanceSummaryRequest {
            campaign_id: "demo-r2".into(),
            unit_id: "demo".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let composite = score.composite_score.unwrap();
    let change = briefing.composite_change.unwrap();

    let zh = run(&["briefing", "--campaign", "demo-r2", "--format", "md"]);
    assert!(zh.starts_with("# "), "{zh}");
    assert!(
        zh.contains(&format!("群众评价得分为{}分", two(composite))),
        "{zh}"
    );
    let margin = two(change.margin_of_error.unwrap());
    let headline = if change.beyond_margin {
        format!("超出误差范围±{margin}分")
    } else {
        format!(
            "变化{:+.2}分，变化在误差范围内（±{margin}分）",
            change.change
        )
    };
    assert!(zh.contains(&headline), "{headline}\n{zh}");
    for riser in &movers.risers {
        let places = riser.rank_change.unwrap();
        assert!(
            zh.contains(&format!("{}上升了{places}位", riser.unit_name)),
            "{riser:?}\n{zh}"
        );
    }
    for faller in &movers.fallers {
        let places = -faller.rank_change.unwrap();
        assert!(
            zh.contains(&format!("{}后退{places}位", faller.unit_name)),
            "{faller:?}\n{zh}"
        );
    }
    // Every mover's score change is marked; those within their margin never read as a rise.
    let township_level = &briefing.peer_groups[0];
    for e in township_level.risers.iter().chain(&township_level.fallers) {
        let row = e.entry.as_ref().unwrap();
        let c = e.change.unwrap();
        let marked = if c.beyond_margin {
            format!("超出误差范围±{}分", two(c.margin_of_error.unwrap()))
        } else {
            format!(
                "得分变化{:+.2}分，变化在误差范围内（±{}分）",
                c.change,
                two(c.margin_of_error.unwrap())
            )
        };
        let line = zh
            .split(['；', '\n'])
            .find(|l| l.contains(&row.unit_name) && l.contains('位'))
            .unwrap_or_else(|| panic!("{} in\n{zh}", row.unit_name));
        assert!(line.contains(&marked), "{marked} in {line}");
        if !c.beyond_margin {
            assert!(!line.contains("提高") && !line.contains("下降"), "{line}");
        }
    }
    for laggard in &township_level.laggards {
        assert!(zh.contains(&laggard.unit_name), "{}", laggard.unit_name);
    }
    assert!(
        zh.contains(&format!(
            "共排查各类矛盾纠纷{}起，成功调解{}起",
            grievances.raised, grievances.resolved
        )),
        "{zh}"
    );
    let rates = briefing.response_rates.unwrap().overall.unwrap();
    assert!(zh.contains(&format!("{:.4}", rates.rr1.unwrap())), "{zh}");

    let en = run(&[
        "briefing",
        "--campaign",
        "demo-r2",
        "--format",
        "md",
        "--lang",
        "en",
    ]);
    assert!(
        en.contains(&format!("is {} points", two(composite))),
        "{en}"
    );
    if !change.beyond_margin {
        assert!(
            en.contains(&format!("within the margin of error (±{margin})")),
            "{en}"
        );
    }
    assert!(en.contains(&format!("{} grievances were raised", grievances.raised)));

    let out = data_dir.path().join("briefing.html");
    run(&[
        "briefing",
        "--campaign",
        "demo-r2",
        "--format",
        "html",
        "--out",
        out.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<html lang=\"zh-CN\">"));
    assert!(html.contains("<style>") && !html.contains("<link") && !html.contains("src="));
    assert!(html.contains(&format!("群众评价得分为{}分", two(composite))));
    assert!(html.contains(&movers.risers[0].unit_name));
    let html_en = run(&[
        "briefing",
        "--campaign",
        "demo-r2",
        "--format",
        "html",
        "--lang",
        "en",
    ]);
    assert!(
        html_en.contains("<html lang=\"en\">") && html_en.contains("Townships and sub-districts")
    );

    // A first round: no changes.
    let first = run(&["briefing", "--campaign", "demo-r1", "--format", "md"]);
    assert!(first.contains("本轮没有对比轮次，不报告变化。"), "{first}");
    assert!(
        !first.contains("上升了") && !first.contains("提高了"),
        "{first}"
    );
    server.stop().await;
}
