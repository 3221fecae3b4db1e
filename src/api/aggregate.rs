use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert::{
    campaign_and_unit, history_to_proto, laggards_to_proto, movers_to_proto, peer_group,
    peer_kinds_to_proto, ranking_row_to_proto, to_i32, unit_score_to_proto, weaknesses_to_proto,
};
use super::pagination::Page;
use super::watch::watch;
use crate::domain::ids::{CampaignId, Code, UnitId};
use crate::domain::ranking::RankBasis;
use crate::error::Violations;
use crate::proto::v1 as pb;
use crate::proto::v1::aggregate_service_server::AggregateService;
use crate::scores::{RankFilter, RankingQuery, Scores};

pub struct AggregateApi {
    pub scores: Scores,
}

/// Parses an optional indicator code: empty ranks on the composite score.
fn basis(v: &mut Violations, indicator_code: &str) -> Option<RankBasis> {
    if indicator_code.is_empty() {
        return Some(RankBasis::Composite);
    }
    v.check("indicator_code", Code::parse(indicator_code))
        .map(RankBasis::Indicator)
}

/// A non-negative count where 0 selects `default`.
fn count(v: &mut Violations, field: &str, value: i32, default: u32) -> Option<u32> {
    match value {
        0 => Some(default),
        n if n < 0 => {
            v.add(field, "must not be negative");
            None
        }
        n => Some(n as u32),
    }
}

/// The fields every ranking request shares.
struct RankingFields<'r> {
    campaign_id: &'r str,
    scope_unit_id: &'r str,
    unit_kind: i32,
    unit_kinds: &'r [i32],
    indicator_code: &'r str,
}

/// The [`RankingFields`] of a request message: every ranking request names them alike.
macro_rules! ranking_fields {
    ($r:ident) => {
        RankingFields {
            campaign_id: &$r.campaign_id,
            scope_unit_id: &$r.scope_unit_id,
            unit_kind: $r.unit_kind,
            unit_kinds: &$r.unit_kinds,
            indicator_code: &$r.indicator_code,
        }
    };
}

fn ranking_query(v: &mut Violations, r: RankingFields<'_>) -> Option<RankingQuery> {
    let campaign_id = v.check("campaign_id", CampaignId::parse(r.campaign_id));
    let scope = v.check("scope_unit_id", UnitId::parse(r.scope_unit_id));
    let group = peer_group(v, r.unit_kind, r.unit_kinds);
    let basis = basis(v, r.indicator_code);
    Some(RankingQuery {
        campaign_id: campaign_id?,
        scope: scope?,
        group: group?,
        basis: basis?,
    })
}

fn rank_filter(v: &mut Violations, top_n: i32, bottom_n: i32) -> RankFilter {
    match (top_n, bottom_n) {
        (0, 0) => RankFilter::All,
        (t, 0) if t > 0 => RankFilter::Top(t as u32),
        (0, b) if b > 0 => RankFilter::Bottom(b as u32),
        (t, b) => {
            if t < 0 {
                v.add("top_n", "must not be negative");
            }
            if b < 0 {
                v.add("bottom_n", "must not be negative");
            }
            if t > 0 && b > 0 {
                v.add("bottom_n", "set at most one of top_n and bottom_n");
            }
            RankFilter::All
        }
    }
}

type WatchStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl AggregateService for AggregateApi {
    /// # Errors
    /// INVALID_ARGUMENT for malformed ids; NOT_FOUND for an unknown campaign or unit;
    /// FAILED_PRECONDITION for a unit outside the campaign's scope.
    async fn get_unit_score(
        &self,
        request: Request<pb::GetUnitScoreRequest>,
    ) -> Result<Response<pb::UnitScore>, Status> {
        let r = request.into_inner();
        let (campaign, unit) = campaign_and_unit(&r.campaign_id, &r.unit_id)?;
        let score = self.scores.unit_score(&campaign, &unit).await?;
        Ok(Response::new(unit_score_to_proto(&campaign, &score)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed ids or kinds, no kinds under a scope without a default
    /// group, an unknown indicator, both filters set or a foreign page token; NOT_FOUND for an
    /// unknown campaign or scope unit.
    async fn list_rankings(
        &self,
        request: Request<pb::ListRankingsRequest>,
    ) -> Result<Response<pb::ListRankingsResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let query = ranking_query(&mut v, ranking_fields!(r));
        let filter = rank_filter(&mut v, r.top_n, r.bottom_n);
        let query = v.into_result(|| query)?;
        let fingerprint = format!("{query:?}/{filter:?}");
        let page = Page::parse(r.page_size, &r.page_token, &fingerprint)?;
        let (ranking, total) = self
            .scores
            .ranking_window(&query, filter, page.window())
            .await?;
        Ok(Response::new(ranking_window_to_proto(
            ranking, total, &page,
        )))
    }

    /// # Errors
    /// INVALID_ARGUMENT as for ListRankings; NOT_FOUND for an unknown campaign or scope;
    /// FAILED_PRECONDITION when the comparison chain is shorter than `campaign_count`.
    async fn list_persistent_laggards(
        &self,
        request: Request<pb::ListPersistentLaggardsRequest>,
    ) -> Result<Response<pb::ListPersistentLaggardsResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let query = ranking_query(&mut v, ranking_fields!(r));
        let n = count(&mut v, "bottom_n", r.bottom_n, 5);
        let k = count(&mut v, "campaign_count", r.campaign_count, 2);
        let (query, n, k) = v.into_result(|| Some((query?, n?, k?)))?;
        let laggards = self.scores.laggards(&query, n, k as usize).await?;
        Ok(Response::new(laggards_to_proto(laggards)))
    }

    /// # Errors
    /// INVALID_ARGUMENT as for ListRankings; NOT_FOUND for an unknown campaign, baseline or
    /// scope; FAILED_PRECONDITION without a baseline.
    async fn list_rank_movers(
        &self,
        request: Request<pb::ListRankMoversRequest>,
    ) -> Result<Response<pb::ListRankMoversResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let query = ranking_query(&mut v, ranking_fields!(r));
        let baseline = if r.baseline_campaign_id.is_empty() {
            Some(None)
        } else {
            v.check(
                "baseline_campaign_id",
                CampaignId::parse(&r.baseline_campaign_id),
            )
            .map(Some)
        };
        let limit = count(&mut v, "limit", r.limit, 5);
        let (query, baseline, limit) = v.into_result(|| Some((query?, baseline?, limit?)))?;
        let movers = self.scores.movers(&query, baseline, limit as usize).await?;
        Ok(Response::new(movers_to_proto(movers)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed ids or kinds, or kinds without the unit's; NOT_FOUND for an
    /// unknown campaign or unit; FAILED_PRECONDITION for a unit outside the campaign's scope.
    async fn get_unit_weaknesses(
        &self,
        request: Request<pb::GetUnitWeaknessesRequest>,
    ) -> Result<Response<pb::UnitWeaknesses>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let campaign = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
        let unit = v.check("unit_id", UnitId::parse(&r.unit_id));
        let group = peer_group(&mut v, 0, &r.unit_kinds);
        let (campaign, unit, group) = v.into_result(|| Some((campaign?, unit?, group?)))?;
        let weaknesses = self.scores.weaknesses(&campaign, &unit, group).await?;
        Ok(Response::new(weaknesses_to_proto(&campaign, weaknesses)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for a malformed id or kinds, or kinds without the unit's; NOT_FOUND for
    /// an unknown unit.
    async fn get_unit_history(
        &self,
        request: Request<pb::GetUnitHistoryRequest>,
    ) -> Result<Response<pb::UnitHistory>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let unit = v.check("unit_id", UnitId::parse(&r.unit_id));
        let group = peer_group(&mut v, 0, &r.unit_kinds);
        let (unit, group) = v.into_result(|| Some((unit?, group?)))?;
        let history = self.scores.history(&unit, group).await?;
        Ok(Response::new(history_to_proto(history)))
    }

    type WatchUnitScoreStream = WatchStream<pb::UnitScore>;

    /// # Errors
    /// As GetUnitScore, for the first message; the stream then ends only when the client leaves.
    async fn watch_unit_score(
        &self,
        request: Request<pb::WatchUnitScoreRequest>,
    ) -> Result<Response<Self::WatchUnitScoreStream>, Status> {
        let r = request.into_inner();
        let (campaign, unit) = campaign_and_unit(&r.campaign_id, &r.unit_id)?;
        let first =
            unit_score_to_proto(&campaign, &self.scores.unit_score(&campaign, &unit).await?);
        let watched = campaign.clone();
        let stream = watch(self.scores.clone(), watched, first, move |scores| {
            let (campaign, unit) = (campaign.clone(), unit.clone());
            async move {
                let score = scores.unit_score(&campaign, &unit).await?;
                Ok(unit_score_to_proto(&campaign, &score))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    type WatchRankingsStream = WatchStream<pb::ListRankingsResponse>;

    /// # Errors
    /// As ListRankings, for the first message.
    async fn watch_rankings(
        &self,
        request: Request<pb::WatchRankingsRequest>,
    ) -> Result<Response<Self::WatchRankingsStream>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let query = ranking_query(&mut v, ranking_fields!(r));
        let query = v.into_result(|| query)?;
        let page_size = r.page_size;
        let page = Page::parse(page_size, "", "")?;
        let (ranking, total) = self
            .scores
            .ranking_window(&query, RankFilter::All, page.window())
            .await?;
        let first = ranking_window_to_proto(ranking, total, &page);
        let stream = watch(
            self.scores.clone(),
            query.campaign_id.clone(),
            first,
            move |scores| {
                let query = query.clone();
                async move {
                    let page = Page::parse(page_size, "", "")?;
                    let (ranking, total) = scores
                        .ranking_window(&query, RankFilter::All, page.window())
                        .await?;
                    Ok(ranking_window_to_proto(ranking, total, &page))
                }
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }
}

/// One page of a ranking, whose rows are that page's already, among `total` rows after the
/// filter. The counts describe the peers compared, before filters and paging.
fn ranking_window_to_proto(
    ranking: crate::scores::Ranking,
    total: usize,
    page: &Page,
) -> pb::ListRankingsResponse {
    pb::ListRankingsResponse {
        entries: ranking.rows.iter().map(ranking_row_to_proto).collect(),
        next_page_token: page.next_token(total),
        compared_campaign_id: ranking
            .compared_campaign_id
            .map(|c| c.to_string())
            .unwrap_or_default(),
        peer_count: to_i32(ranking.peer_count),
        ranked_count: to_i32(ranking.ranked_count),
        peer_unit_kinds: peer_kinds_to_proto(&ranking.group),
    }
}
