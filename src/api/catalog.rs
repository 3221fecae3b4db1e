use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::caller;
use super::convert::{
    campaign_from_proto, campaign_patch_from_proto, campaign_to_proto, import_units_from_proto,
    questionnaire_from_proto, questionnaire_to_proto, unit_from_proto, unit_patch_from_proto,
    unit_to_proto,
};
use super::pagination::Page;
use crate::catalog::Catalog;
use crate::domain::ids::{CampaignId, QuestionnaireId, UnitId};
use crate::domain::time::Timestamp;
use crate::domain::unit::Unit;
use crate::error::{Error, Violations};
use crate::proto::v1 as pb;
use crate::proto::v1::catalog_service_server::CatalogService;

pub struct CatalogApi {
    pub catalog: Arc<Catalog>,
}

fn parse_id<T>(
    field: &str,
    value: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, Error> {
    parse(value).map_err(|e| Error::invalid(field, e))
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    /// # Errors
    /// INVALID_ARGUMENT for malformed fields; NOT_FOUND for an unknown parent;
    /// FAILED_PRECONDITION for an archived parent; ALREADY_EXISTS for a taken id.
    async fn create_unit(
        &self,
        request: Request<pb::CreateUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        let actor = caller(&request)?.actor();
        let unit = unit_from_proto(request.into_inner().unit, Timestamp::now())?;
        let unit = self.catalog.create_unit(&actor, unit).await?;
        Ok(Response::new(unit_to_proto(&unit)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed fields or mask paths that cannot be updated; NOT_FOUND
    /// for an unknown unit or parent; FAILED_PRECONDITION (`unit.parent_id`) for a move into
    /// the unit's own subtree or under an archived unit.
    async fn update_unit(
        &self,
        request: Request<pb::UpdateUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        let actor = caller(&request)?.actor();
        let (id, patch) = unit_patch_from_proto(request.into_inner())?;
        let unit = self.catalog.update_unit(&actor, &id, &patch).await?;
        Ok(Response::new(unit_to_proto(&unit)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for a malformed id; NOT_FOUND; FAILED_PRECONDITION while the unit has
    /// children that are not archived.
    async fn archive_unit(
        &self,
        request: Request<pb::ArchiveUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        let actor = caller(&request)?.actor();
        let id = parse_id("id", &request.into_inner().id, UnitId::parse)?;
        let unit = self.catalog.archive_unit(&actor, &id).await?;
        Ok(Response::new(unit_to_proto(&unit)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for a malformed id; NOT_FOUND; FAILED_PRECONDITION while the unit's
    /// parent is archived.
    async fn restore_unit(
        &self,
        request: Request<pb::RestoreUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        let actor = caller(&request)?.actor();
        let id = parse_id("id", &request.into_inner().id, UnitId::parse)?;
        let unit = self.catalog.restore_unit(&actor, &id).await?;
        Ok(Response::new(unit_to_proto(&unit)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for a malformed id; NOT_FOUND.
    async fn get_unit(
        &self,
        request: Request<pb::GetUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        let id = parse_id("id", &request.into_inner().id, UnitId::parse)?;
        let catalog = self
            .catalog
            .snapshot_with(|s| s.units.get(&id).is_some())
            .await?;
        Ok(Response::new(unit_to_proto(catalog.unit(&id)?)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for a malformed parent id or page token.
    async fn list_units(
        &self,
        request: Request<pb::ListUnitsRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        let r = request.into_inner();
        let parent = if r.parent_id.is_empty() {
            None
        } else {
            Some(parse_id("parent_id", &r.parent_id, UnitId::parse)?)
        };
        let filter = format!("{}|{}", r.parent_id, r.show_archived);
        let page = Page::parse(r.page_size, &r.page_token, &filter)?;
        let catalog = self.catalog.snapshot();
        // Both walks are in id order already.
        let units: Vec<&Unit> = match &parent {
            Some(p) => catalog
                .units
                .children(p)
                .filter_map(|id| catalog.units.get(id))
                .filter(|u| r.show_archived || !u.is_archived())
                .collect(),
            None => catalog
                .units
                .all()
                .filter(|u| r.show_archived || !u.is_archived())
                .collect(),
        };
        let (units, next_page_token) = page.slice(units);
        Ok(Response::new(pb::ListUnitsResponse {
            units: units.into_iter().map(unit_to_proto).collect(),
            next_page_token,
        }))
    }

    /// # Errors
    /// INVALID_ARGUMENT naming every malformed field; ALREADY_EXISTS for a taken id.
    async fn create_questionnaire(
        &self,
        request: Request<pb::CreateQuestionnaireRequest>,
    ) -> Result<Response<pb::Questionnaire>, Status> {
        let actor = caller(&request)?.actor();
        let questionnaire =
            questionnaire_from_proto(request.into_inner().questionnaire, Timestamp::now())?;
        let questionnaire = self
            .catalog
            .create_questionnaire(&actor, questionnaire)
            .await?;
        Ok(Response::new(questionnaire_to_proto(&questionnaire)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for a malformed id; NOT_FOUND.
    async fn get_questionnaire(
        &self,
        request: Request<pb::GetQuestionnaireRequest>,
    ) -> Result<Response<pb::Questionnaire>, Status> {
        let id = parse_id("id", &request.into_inner().id, QuestionnaireId::parse)?;
        let catalog = self
            .catalog
            .snapshot_with(|s| s.questionnaires.contains_key(&id))
            .await?;
        Ok(Response::new(questionnaire_to_proto(
            catalog.questionnaire(&id)?,
        )))
    }

    /// # Errors
    /// INVALID_ARGUMENT for a malformed page token.
    async fn list_questionnaires(
        &self,
        request: Request<pb::ListQuestionnairesRequest>,
    ) -> Result<Response<pb::ListQuestionnairesResponse>, Status> {
        let r = request.into_inner();
        let page = Page::parse(r.page_size, &r.page_token, "questionnaires")?;
        let catalog = self.catalog.snapshot();
        let mut all: Vec<_> = catalog.questionnaires.values().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        let (page_items, next_page_token) = page.slice(all);
        Ok(Response::new(pb::ListQuestionnairesResponse {
            questionnaires: page_items
                .into_iter()
                .map(|q| questionnaire_to_proto(q))
                .collect(),
            next_page_token,
        }))
    }

    /// # Errors
    /// INVALID_ARGUMENT naming every malformed field; NOT_FOUND for an unknown questionnaire,
    /// scope unit or compared campaign; FAILED_PRECONDITION for an archived scope unit;
    /// ALREADY_EXISTS for a taken id.
    async fn create_campaign(
        &self,
        request: Request<pb::CreateCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let actor = caller(&request)?.actor();
        let campaign = campaign_from_proto(request.into_inner().campaign, Timestamp::now())?;
        let campaign = self.catalog.create_campaign(&actor, campaign).await?;
        Ok(Response::new(campaign_to_proto(&campaign)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed fields, mask paths that cannot be updated or a close not
    /// after the open; NOT_FOUND for an unknown campaign, questionnaire or scope unit;
    /// FAILED_PRECONDITION naming the field a campaign's data or the comparison chain forbids
    /// changing so.
    async fn update_campaign(
        &self,
        request: Request<pb::UpdateCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let actor = caller(&request)?.actor();
        let (id, patch) = campaign_patch_from_proto(request.into_inner())?;
        let campaign = self.catalog.update_campaign(&actor, &id, &patch).await?;
        Ok(Response::new(campaign_to_proto(&campaign)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for a malformed id; NOT_FOUND.
    async fn get_campaign(
        &self,
        request: Request<pb::GetCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let id = parse_id("id", &request.into_inner().id, CampaignId::parse)?;
        let catalog = self
            .catalog
            .snapshot_with(|s| s.campaigns.contains_key(&id))
            .await?;
        Ok(Response::new(campaign_to_proto(catalog.campaign(&id)?)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for a malformed page token.
    async fn list_campaigns(
        &self,
        request: Request<pb::ListCampaignsRequest>,
    ) -> Result<Response<pb::ListCampaignsResponse>, Status> {
        let r = request.into_inner();
        let page = Page::parse(r.page_size, &r.page_token, "campaigns")?;
        let catalog = self.catalog.snapshot();
        let mut all: Vec<_> = catalog.campaigns.values().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        let (page_items, next_page_token) = page.slice(all);
        Ok(Response::new(pb::ListCampaignsResponse {
            campaigns: page_items
                .into_iter()
                .map(|c| campaign_to_proto(c))
                .collect(),
            next_page_token,
        }))
    }

    /// # Errors
    /// INVALID_ARGUMENT naming every bad unit (`units[12].parent_id`): malformed fields, an id
    /// repeated in the list, a unit stored with other content, a parent found nowhere, a cycle;
    /// ALREADY_EXISTS when another server created one of the units meanwhile.
    async fn import_units(
        &self,
        request: Request<pb::ImportUnitsRequest>,
    ) -> Result<Response<pb::ImportUnitsResponse>, Status> {
        let actor = caller(&request)?.actor();
        let mut violations = Violations::new();
        let rows = import_units_from_proto(request.get_ref(), Timestamp::now(), &mut violations)?;
        let plan = self.catalog.import_units(&actor, rows, violations).await?;
        Ok(Response::new(pb::ImportUnitsResponse {
            created_count: plan.new.len() as u32,
            unchanged_count: plan.unchanged as u32,
        }))
    }
}
