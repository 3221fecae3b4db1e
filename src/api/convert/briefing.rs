//! A round's briefing: its request and its facts on the wire.

use super::*;
use crate::briefing::{
    Briefing, BriefingQuery, DEFAULT_ROUNDS, DEFAULT_TOP_N, GroupFacts, PlacedUnit,
};
use crate::domain::briefing::{Estimate, ScoreChange};

/// Largest N and K a briefing accepts: a briefing names a handful of places, and each round of
/// K costs a ranking of every group.
const MAX_TOP_N: i32 = 100;
const MAX_CAMPAIGN_COUNT: i32 = 20;

/// A count where 0 selects `default`, refused when negative or above `max`.
fn count(v: &mut Violations, field: &str, value: i32, default: u32, max: i32) -> Option<u32> {
    match value {
        0 => Some(default),
        n if n < 0 => {
            v.add(field, "must not be negative");
            None
        }
        n if n > max => {
            v.add(field, format!("must be at most {max}"));
            None
        }
        n => Some(n as u32),
    }
}

/// # Errors
/// INVALID_ARGUMENT naming `campaign_id`, `scope_unit_id`, `top_n` or `campaign_count`.
pub fn briefing_query_from_proto(r: &pb::GetCampaignBriefingRequest) -> Result<BriefingQuery> {
    let mut v = Violations::new();
    let campaign_id = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
    let scope = v.check(
        "scope_unit_id",
        optional_id(&r.scope_unit_id, UnitId::parse),
    );
    let top_n = count(&mut v, "top_n", r.top_n, DEFAULT_TOP_N, MAX_TOP_N);
    let rounds = count(
        &mut v,
        "campaign_count",
        r.campaign_count,
        DEFAULT_ROUNDS,
        MAX_CAMPAIGN_COUNT,
    );
    v.into_result(|| {
        Some(BriefingQuery {
            campaign_id: campaign_id?,
            scope: scope?,
            top_n: top_n?,
            rounds: rounds?,
        })
    })
}

fn estimate_to_proto(e: &Estimate) -> pb::ScoreEstimate {
    pb::ScoreEstimate {
        score: e.value,
        standard_error: e.standard_error,
        sample_size: e.sample_size,
    }
}

fn change_to_proto(c: &ScoreChange) -> pb::ScoreChange {
    pb::ScoreChange {
        before: Some(estimate_to_proto(&c.before)),
        after: Some(estimate_to_proto(&c.after)),
        change: c.delta,
        margin_of_error: c.margin,
        beyond_margin: c.beyond_margin,
    }
}

fn placed_to_proto(units: &[PlacedUnit]) -> Vec<pb::BriefingEntry> {
    units
        .iter()
        .map(|p| pb::BriefingEntry {
            entry: Some(ranking_row_to_proto(&p.row)),
            change: p.change.as_ref().map(change_to_proto),
        })
        .collect()
}

fn group_to_proto(g: GroupFacts) -> pb::PeerGroupBriefing {
    let (laggards_known, laggard_campaign_ids, laggards) = match g.laggards {
        Some(l) => {
            let wire = laggards_to_proto(l);
            (true, wire.campaign_ids, wire.entries)
        }
        None => (false, Vec::new(), Vec::new()),
    };
    pb::PeerGroupBriefing {
        peer_unit_kinds: peer_kinds_to_proto(&g.group),
        peer_count: to_i32(g.peer_count),
        ranked_count: to_i32(g.ranked_count),
        top: placed_to_proto(&g.top),
        bottom: placed_to_proto(&g.bottom),
        risers: placed_to_proto(&g.risers),
        fallers: placed_to_proto(&g.fallers),
        laggards_known,
        laggard_campaign_ids,
        laggards,
    }
}

pub fn briefing_to_proto(b: Briefing) -> pb::CampaignBriefing {
    let campaign_id = b.campaign.id.clone();
    let scope_id = b.scope.id.clone();
    pb::CampaignBriefing {
        campaign_id: campaign_id.to_string(),
        campaign_name: b.campaign.name.clone(),
        compared_campaign_id: b
            .compared
            .as_ref()
            .map(|c| c.id.to_string())
            .unwrap_or_default(),
        compared_campaign_name: b
            .compared
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_default(),
        scope_unit_id: scope_id.to_string(),
        scope_unit_name: b.scope.name.clone(),
        scope_unit_kind: unit_kind_to_proto(b.scope.kind).into(),
        top_n: to_i32(b.top_n),
        campaign_count: to_i32(b.rounds),
        score: Some(unit_score_to_proto(&campaign_id, &b.score)),
        composite: b.composite.as_ref().map(estimate_to_proto),
        composite_change: b.composite_change.as_ref().map(change_to_proto),
        indicators: b
            .indicators
            .iter()
            .map(|i| pb::IndicatorBriefing {
                indicator_code: i.code.to_string(),
                indicator_text: i.text.clone(),
                weight: i.weight,
                estimate: i.estimate.as_ref().map(estimate_to_proto),
                change: i.change.as_ref().map(change_to_proto),
            })
            .collect(),
        biggest_rise_indicator_code: b.biggest_rise.map(|c| c.to_string()).unwrap_or_default(),
        biggest_fall_indicator_code: b.biggest_fall.map(|c| c.to_string()).unwrap_or_default(),
        peer_groups: b.groups.into_iter().map(group_to_proto).collect(),
        weakest_indicators: b
            .weakest_indicators
            .iter()
            .map(indicator_standing_to_proto)
            .collect(),
        response_rates: Some(response_rates_to_proto(
            &campaign_id,
            &scope_id,
            &b.response_rates,
        )),
        grievances: Some(grievance_summary_to_proto(
            &campaign_id,
            &scope_id,
            &b.grievances,
        )),
    }
}
