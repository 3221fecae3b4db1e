//! The briefing as a document of headings, paragraphs and tables, in one language; the Markdown
//! and HTML renderers only lay it out.

use super::text::Lang;
use crate::cli::reports::indicator_name;
use crate::cli::table::{rate, score};
use crate::proto::v1 as pb;

pub enum Block {
    Title(String),
    Heading(String),
    Paragraph(String),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
}

pub fn document(b: &pb::CampaignBriefing, lang: Lang) -> Vec<Block> {
    let compared =
        (!b.compared_campaign_id.is_empty()).then_some(b.compared_campaign_name.as_str());
    let mut doc = vec![
        Block::Title(lang.title(&b.campaign_name, &b.scope_unit_name)),
        Block::Paragraph(lang.compared_with(compared)),
        Block::Heading(lang.pick("总体评价", "Overall").into()),
        Block::Paragraph(lang.headline(
            &b.campaign_name,
            compared,
            b.composite.map(|c| c.score),
            b.composite_change.as_ref(),
        )),
    ];
    doc.extend(indicators(b, lang, compared.is_some()));
    for group in &b.peer_groups {
        doc.extend(peer_group(group, b, lang));
    }
    doc.extend(weakest(b, lang));
    doc.extend(response_rates(b, lang));
    if let Some(g) = &b.grievances {
        doc.push(Block::Heading(lang.pick("矛盾纠纷", "Grievances").into()));
        doc.push(Block::Paragraph(lang.grievances(g)));
    }
    doc
}

fn name_of(b: &pb::CampaignBriefing, code: &str) -> String {
    b.indicators
        .iter()
        .find(|i| i.indicator_code == code)
        .map_or_else(
            || code.to_owned(),
            |i| indicator_name(&i.indicator_text).to_owned(),
        )
}

fn indicators(b: &pb::CampaignBriefing, lang: Lang, compared: bool) -> Vec<Block> {
    let mut out = vec![Block::Heading(lang.pick("各项指标", "Indicators").into())];
    if compared {
        let change_of = |code: &str| {
            b.indicators
                .iter()
                .find(|i| i.indicator_code == code)
                .and_then(|i| i.change.as_ref())
        };
        let rise = change_of(&b.biggest_rise_indicator_code)
            .map(|c| lang.biggest_rise(&name_of(b, &b.biggest_rise_indicator_code), c));
        let fall = change_of(&b.biggest_fall_indicator_code)
            .map(|c| lang.biggest_fall(&name_of(b, &b.biggest_fall_indicator_code), c));
        if rise.is_none() && fall.is_none() {
            out.push(Block::Paragraph(lang.no_indicator_beyond().into()));
        }
        out.extend(rise.into_iter().chain(fall).map(Block::Paragraph));
    }
    let header = [
        lang.pick("指标", "Indicator"),
        lang.pick("本轮得分", "Score"),
        lang.pick("上轮得分", "Before"),
        lang.pick("变化", "Change"),
        lang.pick("误差范围", "Margin"),
        lang.pick("判断", "Reading"),
        lang.pick("样本量（本轮/上轮）", "n (now/before)"),
    ];
    let rows = b
        .indicators
        .iter()
        .map(|i| {
            let c = i.change.as_ref();
            vec![
                indicator_name(&i.indicator_text).to_owned(),
                score(i.estimate.map(|e| e.score)),
                score(c.and_then(|c| c.before).map(|e| e.score)),
                c.map_or_else(|| "-".into(), |c| format!("{:+.2}", c.change)),
                c.and_then(|c| c.margin_of_error)
                    .map_or_else(|| "-".into(), |m| format!("±{m:.2}")),
                c.map_or_else(|| "-".into(), |c| lang.verdict(c).to_owned()),
                match c {
                    Some(c) => format!(
                        "{}/{}",
                        c.after.map_or(0, |e| e.sample_size),
                        c.before.map_or(0, |e| e.sample_size)
                    ),
                    None => i.estimate.map_or(0, |e| e.sample_size).to_string(),
                },
            ]
        })
        .collect();
    out.push(table(&header, rows));
    out
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> Block {
    Block::Table {
        header: header.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    }
}

fn named(entries: &[pb::BriefingEntry], lang: Lang) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| e.entry.as_ref())
        .map(|e| lang.unit_with_score(&e.unit_name, e.score))
        .collect()
}

fn peer_group(g: &pb::PeerGroupBriefing, b: &pb::CampaignBriefing, lang: Lang) -> Vec<Block> {
    let mut out = vec![
        Block::Heading(lang.group_name(&g.peer_unit_kinds).into()),
        Block::Paragraph(lang.group_size(g.peer_count, g.ranked_count)),
    ];
    let moved = |entries: &[pb::BriefingEntry]| {
        let list: Vec<String> = entries.iter().map(|e| lang.moved(e)).collect();
        lang.join_clauses(&list)
    };
    if g.ranked_count == 0 {
        out.push(Block::Paragraph(lang.not_ranked().into()));
        return out;
    }
    if !g.risers.is_empty() {
        out.push(Block::Paragraph(lang.risers(&moved(&g.risers))));
    }
    if !g.fallers.is_empty() {
        out.push(Block::Paragraph(lang.fallers(&moved(&g.fallers))));
    }
    if !g.top.is_empty() {
        out.push(Block::Paragraph(
            lang.top(b.top_n, &lang.join(&named(&g.top, lang))),
        ));
    }
    if !g.bottom.is_empty() {
        let list = lang.join(&named(&g.bottom, lang));
        out.push(Block::Paragraph(lang.bottom(b.top_n, &list)));
    }
    out.push(Block::Paragraph(if g.laggards_known {
        let names: Vec<String> = g.laggards.iter().map(|l| l.unit_name.clone()).collect();
        lang.laggards(&names, b.campaign_count, b.top_n)
    } else {
        lang.laggards_unknown(b.campaign_count)
    }));
    out
}

fn weakest(b: &pb::CampaignBriefing, lang: Lang) -> Vec<Block> {
    if b.weakest_indicators.is_empty() {
        return Vec::new();
    }
    let header = [
        lang.pick("薄弱指标", "Weakest indicators"),
        lang.pick("得分", "Score"),
        lang.pick("同级排名", "Rank among peers"),
        lang.pick("同级平均", "Peer mean"),
    ];
    let rows = b
        .weakest_indicators
        .iter()
        .map(|s| {
            vec![
                indicator_name(&s.indicator_text).to_owned(),
                score(s.score),
                s.rank
                    .map_or_else(|| "-".into(), |r| format!("{r}/{}", s.ranked_count)),
                score(s.peer_mean),
            ]
        })
        .collect();
    vec![
        Block::Heading(lang.pick("薄弱指标", "Weakest indicators").into()),
        table(&header, rows),
    ]
}

fn response_rates(b: &pb::CampaignBriefing, lang: Lang) -> Vec<Block> {
    let Some(rates) = &b.response_rates else {
        return Vec::new();
    };
    let mut out = vec![Block::Heading(
        lang.pick("电话访问应答率", "Phone response rates").into(),
    )];
    let overall = rates.overall.unwrap_or_default();
    let cases = |r: &pb::OutcomeRates| {
        let c = r.counts.unwrap_or_default();
        c.complete
            + c.partial
            + c.refusal_and_break_off
            + c.non_contact
            + c.other
            + c.unknown_household
            + c.unknown_other
            + c.not_eligible
    };
    if cases(&overall) == 0 {
        out.push(Block::Paragraph(
            lang.pick("本轮没有电话访问记录。", "No phone cases this round.")
                .into(),
        ));
        return out;
    }
    let header = [
        lang.pick("运营商", "Carrier"),
        lang.pick("号码数", "Cases"),
        lang.pick("完成", "Complete"),
        "RR1",
        "RR3",
        "COOP1",
        "REF1",
        "CON1",
    ];
    let row = |carrier: i32, r: &pb::OutcomeRates| {
        vec![
            lang.carrier(carrier).to_owned(),
            cases(r).to_string(),
            r.counts.unwrap_or_default().complete.to_string(),
            rate(r.rr1),
            rate(r.rr3),
            rate(r.coop1),
            rate(r.ref1),
            rate(r.con1),
        ]
    };
    let mut rows = vec![row(pb::Carrier::Unspecified as i32, &overall)];
    for c in &rates.by_carrier {
        rows.push(row(c.carrier, &c.rates.unwrap_or_default()));
    }
    out.push(table(&header, rows));
    out
}
