use tonic::{Request, Response, Status};

use super::convert::{ranking_row_to_proto, unit_kind, unit_score_to_proto};
use super::pagination::Page;
use crate::domain::ids::{CampaignId, UnitId};
use crate::error::Violations;
use crate::proto::v1 as pb;
use crate::proto::v1::aggregate_service_server::AggregateService;
use crate::scores::Scores;

pub struct AggregateApi {
    pub scores: Scores,
}

#[tonic::async_trait]
impl AggregateService for AggregateApi {
    /// # Errors
    /// INVALID_ARGUMENT for malformed ids; NOT_FOUND for an unknown campaign or unit.
    async fn get_unit_score(
        &self,
        request: Request<pb::GetUnitScoreRequest>,
    ) -> Result<Response<pb::UnitScore>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let campaign = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
        let unit = v.check("unit_id", UnitId::parse(&r.unit_id));
        let (campaign, unit) = v.into_result(|| campaign.zip(unit))?;
        let score = self.scores.unit_score(&campaign, &unit).await?;
        Ok(Response::new(unit_score_to_proto(&campaign, &score)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed ids, an unspecified kind or a foreign page token;
    /// NOT_FOUND for an unknown campaign or scope unit.
    async fn list_rankings(
        &self,
        request: Request<pb::ListRankingsRequest>,
    ) -> Result<Response<pb::ListRankingsResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let campaign = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
        let scope = v.check("scope_unit_id", UnitId::parse(&r.scope_unit_id));
        let kind = v.check("unit_kind", unit_kind(r.unit_kind));
        let (campaign, scope, kind) = v.into_result(|| Some((campaign?, scope?, kind?)))?;
        let filter = format!("{campaign}/{scope}/{kind:?}");
        let page = Page::parse(r.page_size, &r.page_token, &filter)?;
        let ranking = self.scores.rankings(&campaign, &scope, kind).await?;
        let (rows, next_page_token) = page.slice(ranking.rows);
        Ok(Response::new(pb::ListRankingsResponse {
            entries: rows.iter().map(ranking_row_to_proto).collect(),
            next_page_token,
            compared_campaign_id: ranking
                .compared_campaign_id
                .map(|c| c.to_string())
                .unwrap_or_default(),
        }))
    }
}
