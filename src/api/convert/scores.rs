//! Scores, rankings and standings.

use super::*;
use crate::scores::{History, Laggards, Movers, Weaknesses};

fn interval_to_proto(interval: Option<(f64, f64)>) -> Option<pb::ConfidenceInterval> {
    interval.map(|(lower, upper)| pb::ConfidenceInterval { lower, upper })
}

fn stratum_to_proto(s: &StratumWeight) -> pb::WeightingStratum {
    pb::WeightingStratum {
        levels: s.levels.iter().cloned().collect(),
        weight: s.weight,
        sample_count: s.count,
    }
}

fn weighted_to_proto(w: &WeightedEstimate, strata: &[StratumWeight]) -> pb::WeightedEstimate {
    pb::WeightedEstimate {
        mean: w.mean,
        standard_error: w.standard_error,
        confidence_interval: interval_to_proto(w.confidence_interval),
        effective_sample_size: w.effective_sample_size,
        design_effect: w.design_effect,
        strata: strata.iter().map(stratum_to_proto).collect(),
    }
}

fn indicator_score_to_proto(i: &IndicatorScore) -> pb::IndicatorScore {
    pb::IndicatorScore {
        indicator_code: i.code.to_string(),
        valid_count: i.moments.valid,
        excluded_count: i.moments.excluded,
        mean: i.mean,
        standard_error: i.standard_error,
        confidence_interval: interval_to_proto(i.confidence_interval),
        weighted: i
            .weighted
            .as_ref()
            .map(|w| weighted_to_proto(w, &i.weighted_strata)),
        top_three: i.top_three.as_ref().map(|t| pb::TopThreeShare {
            count: t.count,
            share: t.share,
            confidence_interval: interval_to_proto(t.interval),
            weighted: t
                .weighted
                .as_ref()
                .map(|w| weighted_to_proto(w, &i.weighted_strata)),
        }),
    }
}

fn breakdown_to_proto(b: &Breakdown) -> pb::ScoreBreakdown {
    pb::ScoreBreakdown {
        channel: channel_to_proto(b.channel).into(),
        carrier: carrier_to_proto(b.carrier).into(),
        submission_count: b.submissions,
        composite_score: b.composite,
        indicators: b.indicators.iter().map(indicator_score_to_proto).collect(),
    }
}

pub fn unit_score_to_proto(campaign_id: &CampaignId, score: &UnitScore) -> pb::UnitScore {
    pb::UnitScore {
        campaign_id: campaign_id.to_string(),
        unit_id: score.unit_id.to_string(),
        unit_name: score.unit_name.clone(),
        submission_count: score.submissions,
        composite_score: score.composite,
        indicators: score
            .indicators
            .iter()
            .map(indicator_score_to_proto)
            .collect(),
        sufficient_sample: score.sufficient_sample,
        breakdowns: score.breakdowns.iter().map(breakdown_to_proto).collect(),
        weighted_composite_score: score.weighted_composite,
        weighted_submission_count: score.weighted_submissions,
        effective_sample_size: score.effective_sample_size,
        composite_conservative_standard_error: score
            .composite_uncertainty
            .map(|u| u.standard_error),
        composite_conservative_interval: interval_to_proto(
            score.composite_uncertainty.map(|u| u.confidence_interval),
        ),
        weighted_composite_conservative_standard_error: score
            .weighted_composite_uncertainty
            .map(|u| u.standard_error),
        weighted_composite_conservative_interval: interval_to_proto(
            score
                .weighted_composite_uncertainty
                .map(|u| u.confidence_interval),
        ),
        weighting_strata: score
            .weighting_strata
            .iter()
            .map(stratum_to_proto)
            .collect(),
    }
}

/// The peer group a request names: `unit_kinds` and the older single `unit_kind` together (their
/// union), or `None` for the default. `unit_kind` UNSPECIFIED names no kind; UNSPECIFIED or an
/// unknown number inside `unit_kinds` is refused, as is an unknown `unit_kind`.
pub fn peer_group(
    v: &mut Violations,
    unit_kind: i32,
    unit_kinds: &[i32],
) -> Option<Option<PeerGroup>> {
    let mut kinds = Vec::with_capacity(unit_kinds.len() + 1);
    let mut valid = true;
    if unit_kind != i32::from(pb::UnitKind::Unspecified) {
        match v.check("unit_kind", super::unit_kind(unit_kind)) {
            Some(kind) => kinds.push(kind),
            None => valid = false,
        }
    }
    for (i, &value) in unit_kinds.iter().enumerate() {
        match v.check(format!("unit_kinds[{i}]"), super::unit_kind(value)) {
            Some(kind) => kinds.push(kind),
            None => valid = false,
        }
    }
    valid.then(|| PeerGroup::of(kinds))
}

/// The kinds of `group`, each once, in ascending enum number.
pub fn peer_kinds_to_proto(group: &PeerGroup) -> Vec<i32> {
    let mut kinds: Vec<i32> = group
        .kinds()
        .map(|k| unit_kind_to_proto(k).into())
        .collect();
    kinds.sort_unstable();
    kinds
}

/// A count or rank on the wire, saturating (no ranking holds 2³¹ units).
pub fn to_i32(value: impl TryInto<i32>) -> i32 {
    value.try_into().unwrap_or(i32::MAX)
}

pub fn ranking_row_to_proto(row: &RankingRow) -> pb::RankingEntry {
    pb::RankingEntry {
        unit_id: row.headline.unit_id.to_string(),
        unit_name: row.headline.unit_name.clone(),
        submission_count: row.headline.submissions,
        score: row.value,
        rank: row.rank.map(to_i32),
        previous_rank: row.previous_rank.map(to_i32),
        rank_change: row.rank_change.map(|c| c as i32),
        previous_score: row.previous_value,
        score_change: row.value_change,
        sufficient_sample: row.headline.sufficient_sample,
    }
}

pub fn indicator_standing_to_proto(s: &IndicatorStanding) -> pb::IndicatorStanding {
    pb::IndicatorStanding {
        indicator_code: s.code.to_string(),
        indicator_text: s.text.clone(),
        score: s.value,
        rank: s.rank.map(to_i32),
        ranked_count: to_i32(s.ranked_count),
        peer_mean: s.peer_mean,
        gap: s.value.zip(s.peer_mean).map(|(v, m)| v - m),
    }
}

pub fn laggards_to_proto(laggards: Laggards) -> pb::ListPersistentLaggardsResponse {
    pb::ListPersistentLaggardsResponse {
        campaign_ids: laggards.campaigns.iter().map(ToString::to_string).collect(),
        entries: laggards
            .entries
            .into_iter()
            .map(|l| pb::LaggardEntry {
                unit_id: l.unit.id.to_string(),
                unit_name: l.unit.name,
                standings: l
                    .standings
                    .into_iter()
                    .map(|(campaign, score, rank, ranked)| pb::CampaignStanding {
                        campaign_id: campaign.to_string(),
                        score,
                        rank: rank.map(to_i32),
                        ranked_count: to_i32(ranked),
                    })
                    .collect(),
            })
            .collect(),
        peer_unit_kinds: peer_kinds_to_proto(&laggards.group),
    }
}

pub fn movers_to_proto(movers: Movers) -> pb::ListRankMoversResponse {
    pb::ListRankMoversResponse {
        baseline_campaign_id: movers.baseline.to_string(),
        risers: movers.risers.iter().map(ranking_row_to_proto).collect(),
        fallers: movers.fallers.iter().map(ranking_row_to_proto).collect(),
        peer_unit_kinds: peer_kinds_to_proto(&movers.group),
    }
}

pub fn weaknesses_to_proto(campaign_id: &CampaignId, w: Weaknesses) -> pb::UnitWeaknesses {
    pb::UnitWeaknesses {
        campaign_id: campaign_id.to_string(),
        unit_id: w.unit.id.to_string(),
        unit_name: w.unit.name,
        indicators: w
            .standings
            .iter()
            .map(indicator_standing_to_proto)
            .collect(),
        peer_unit_kinds: peer_kinds_to_proto(&w.group),
    }
}

pub fn history_to_proto(history: History) -> pb::UnitHistory {
    pb::UnitHistory {
        unit_id: history.unit.id.to_string(),
        unit_name: history.unit.name,
        points: history
            .points
            .into_iter()
            .map(|p| pb::HistoryPoint {
                campaign_id: p.campaign.id.to_string(),
                campaign_name: p.campaign.name.clone(),
                open_time: Some(timestamp_to_proto(p.campaign.opens_at)),
                submission_count: p.headline.submissions,
                composite_score: p.headline.composite,
                sufficient_sample: p.headline.sufficient_sample,
                rank: p.rank.map(to_i32),
                ranked_count: to_i32(p.ranked_count),
                weighted_composite_score: p.headline.weighted_composite,
                ranked_score: p.ranked_value,
            })
            .collect(),
        peer_unit_kinds: peer_kinds_to_proto(&history.group),
    }
}
