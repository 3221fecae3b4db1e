//! Scores, rankings and standings.

use super::*;

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

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

pub fn ranking_row_to_proto(row: &RankingRow) -> pb::RankingEntry {
    pb::RankingEntry {
        unit_id: row.score.unit_id.to_string(),
        unit_name: row.score.unit_name.clone(),
        submission_count: row.score.submissions,
        score: row.value,
        rank: row.rank.map(to_i32),
        previous_rank: row.previous_rank.map(to_i32),
        rank_change: row.rank_change.map(|c| c as i32),
        previous_score: row.previous_value,
        score_change: row.value_change,
        sufficient_sample: row.score.sufficient_sample,
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
