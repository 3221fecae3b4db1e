//! The catalog's lifecycle: UpdateUnit and UpdateCampaign with field masks, ArchiveUnit and
//! RestoreUnit, and what a reorganisation does to past and new campaigns' figures.

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::*;

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

fn unit_update(unit: pb::Unit, paths: &[&str]) -> pb::UpdateUnitRequest {
    pb::UpdateUnitRequest {
        unit: Some(unit),
        update_mask: mask(paths),
    }
}

fn campaign_update(campaign: pb::Campaign, paths: &[&str]) -> pb::UpdateCampaignRequest {
    pb::UpdateCampaignRequest {
        campaign: Some(campaign),
        update_mask: mask(paths),
    }
}

/// The (type, subject) of a FAILED_PRECONDITION's one violation, and its description.
fn precondition(status: &Status) -> (String, String, String) {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let v = status
        .get_details_precondition_failure()
        .expect("a PreconditionFailure")
        .violations
        .remove(0);
    (v.r#type, v.subject, v.description)
}

async fn get_unit(app: &TestApp, id: &str) -> pb::Unit {
    app.admin_catalog()
        .get_unit(pb::GetUnitRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
}

async fn list_units(app: &TestApp, parent: &str, show_archived: bool) -> Vec<String> {
    let page = app
        .admin_catalog()
        .list_units(pb::ListUnitsRequest {
            parent_id: parent.into(),
            page_size: 0,
            page_token: String::new(),
            show_archived,
        })
        .await
        .unwrap()
        .into_inner();
    page.units.into_iter().map(|u| u.id).collect()
}

async fn submit(app: &TestApp, campaign: &str, unit: &str) -> Result<(), Status> {
    app.field_worker(&["city"])
        .submit_visit(visit(
            campaign,
            unit,
            vec![answer("security", "a"), answer("police", "b")],
        ))
        .await
        .map(drop)
}

async fn ranked_units(app: &TestApp, campaign: &str, scope: &str) -> Vec<String> {
    let r = app
        .analyst()
        .list_rankings(pb::ListRankingsRequest {
            campaign_id: campaign.into(),
            scope_unit_id: scope.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut ids: Vec<String> = r.entries.into_iter().map(|e| e.unit_id).collect();
    ids.sort();
    ids
}

per_backend! {
    async fn unit_updates_follow_the_mask_and_keep_the_tree_acyclic(app: TestApp) {
        app.seed_units().await;
        let mut catalog = app.admin_catalog();
        // Only the masked field changes: the kind sent along is ignored.
        let renamed = catalog
            .update_unit(unit_update(pb::Unit { id: "jinshi".into(), name: "金石街道".into(), kind: pb::UnitKind::Village.into(), ..Default::default() }, &["name"]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((renamed.name.as_str(), renamed.kind(), renamed.parent_id.as_str()), ("金石街道", pb::UnitKind::Township, "city"));
        // An empty mask means the fields set: here the area.
        let area = pb::GeoArea { latitude: 29.9, longitude: 121.6, radius_meters: 3000.0 };
        let with_area = catalog
            .update_unit(unit_update(pb::Unit { id: "jinshi".into(), area: Some(area), ..Default::default() }, &[]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((with_area.name.as_str(), with_area.area), ("金石街道", Some(area)));
        // `*` replaces every updatable field: no area clears it.
        let replaced = catalog
            .update_unit(unit_update(pb::Unit { id: "jinshi".into(), name: "金石镇".into(), parent_id: "city".into(), ..Default::default() }, &["*"]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((replaced.name.as_str(), replaced.area), ("金石镇", None));

        // Immutable and unknown paths are named; nothing changes.
        let status = catalog
            .update_unit(unit_update(pb::Unit { id: "jinshi".into(), name: "新名".into(), ..Default::default() }, &["name", "kind", "colour"]))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["update_mask.paths[1]", "update_mask.paths[2]"]);
        let status = catalog
            .update_unit(unit_update(pb::Unit { id: "jinshi".into(), ..Default::default() }, &["name"]))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["unit.name"]);
        assert_eq!(get_unit(&app, "jinshi").await.name, "金石镇");

        // A move into the unit's own subtree is refused naming the field; a real move is kept.
        for inside in ["jinshi", "jinshi-v1"] {
            let status = catalog
                .update_unit(unit_update(pb::Unit { id: "jinshi".into(), parent_id: inside.into(), ..Default::default() }, &["parent_id"]))
                .await
                .unwrap_err();
            let (kind, subject, _) = precondition(&status);
            assert_eq!((kind.as_str(), subject.as_str()), ("UNIT_TREE_CYCLE", "unit.parent_id"));
        }
        let status = catalog
            .update_unit(unit_update(pb::Unit { id: "jinshi".into(), parent_id: "nowhere".into(), ..Default::default() }, &["parent_id"]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(get_unit(&app, "jinshi").await.parent_id, "city");
        let moved = catalog
            .update_unit(unit_update(pb::Unit { id: "jinshi-v2".into(), parent_id: "dongshan".into(), ..Default::default() }, &["parent_id"]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(moved.parent_id, "dongshan");
        assert_eq!(list_units(&app, "jinshi", false).await, ["jinshi-v1"]);
        assert_eq!(list_units(&app, "dongshan", false).await, ["dongshan-c1", "dongshan-c2", "jinshi-v2"]);
        let status = catalog
            .update_unit(unit_update(pb::Unit { id: "nowhere".into(), name: "无".into(), ..Default::default() }, &["name"]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
    }

    async fn archived_units_leave_new_campaigns_but_stay_in_past_ones(app: TestApp) {
        app.seed().await;
        let mut catalog = app.admin_catalog();
        submit(&app, "c1", "jinshi-v2").await.unwrap();
        // A unit with live children is refused, naming them.
        let status = catalog.archive_unit(pb::ArchiveUnitRequest { id: "jinshi".into() }).await.unwrap_err();
        let (kind, subject, description) = precondition(&status);
        assert_eq!((kind.as_str(), subject.as_str()), ("UNIT_HAS_LIVE_CHILDREN", "units/jinshi"));
        assert!(description.contains("jinshi-v1") && description.contains("jinshi-v2"), "{description}");
        assert!(!get_unit(&app, "jinshi").await.archived);

        let archived = catalog.archive_unit(pb::ArchiveUnitRequest { id: "jinshi-v2".into() }).await.unwrap().into_inner();
        assert!(archived.archived && archived.archive_time.is_some());
        // Archiving again changes nothing.
        let again = catalog.archive_unit(pb::ArchiveUnitRequest { id: "jinshi-v2".into() }).await.unwrap().into_inner();
        assert_eq!(again.archive_time, archived.archive_time);
        assert_eq!(list_units(&app, "jinshi", false).await, ["jinshi-v1"]);
        assert_eq!(list_units(&app, "jinshi", true).await, ["jinshi-v1", "jinshi-v2"]);
        assert!(!list_units(&app, "", false).await.contains(&"jinshi-v2".to_owned()));
        // Nothing new goes under an archived unit.
        let status = catalog
            .create_unit(pb::CreateUnitRequest { unit: Some(pb::Unit { id: "v2-team".into(), name: "组".into(), kind: pb::UnitKind::Village.into(), parent_id: "jinshi-v2".into(), ..Default::default() }) })
            .await
            .unwrap_err();
        assert_eq!(precondition(&status).1, "unit.parent_id");

        // The campaign created before the archive still surveys and ranks it.
        submit(&app, "c1", "jinshi-v2").await.unwrap();
        assert_eq!(ranked_units(&app, "c1", "jinshi").await, ["jinshi-v1", "jinshi-v2"]);
        assert_eq!(unit_score(&app, "c1", "jinshi").await.submission_count, 2);
        // A campaign created after it does neither.
        app.create_campaign(campaign("c2", None, 1)).await;
        let status = submit(&app, "c2", "jinshi-v2").await.unwrap_err();
        let (kind, subject, _) = precondition(&status);
        assert_eq!((kind.as_str(), subject.as_str()), ("UNIT_ARCHIVED", "units/jinshi-v2"));
        assert_eq!(app.stored_count("c2").await, 0);
        assert_eq!(ranked_units(&app, "c2", "jinshi").await, ["jinshi-v1"]);

        // An archived unit is not a scope for a new campaign, and a restore under an archived
        // parent is refused.
        let mut scoped = campaign("c3", None, 1);
        scoped.scope_unit_id = "jinshi-v2".into();
        let status = catalog.create_campaign(pb::CreateCampaignRequest { campaign: Some(scoped) }).await.unwrap_err();
        assert_eq!(precondition(&status).1, "campaign.scope_unit_id");
        catalog.archive_unit(pb::ArchiveUnitRequest { id: "jinshi-v1".into() }).await.unwrap();
        catalog.archive_unit(pb::ArchiveUnitRequest { id: "jinshi".into() }).await.unwrap();
        let status = catalog.restore_unit(pb::RestoreUnitRequest { id: "jinshi-v2".into() }).await.unwrap_err();
        let (kind, subject, _) = precondition(&status);
        assert_eq!((kind.as_str(), subject.as_str()), ("PARENT_ARCHIVED", "unit.parent_id"));

        // Restored, it is back in every campaign.
        catalog.restore_unit(pb::RestoreUnitRequest { id: "jinshi".into() }).await.unwrap();
        let restored = catalog.restore_unit(pb::RestoreUnitRequest { id: "jinshi-v2".into() }).await.unwrap().into_inner();
        assert!(!restored.archived && restored.archive_time.is_none());
        submit(&app, "c2", "jinshi-v2").await.unwrap();
        assert_eq!(app.stored_count("c2").await, 1);
    }

    async fn a_closed_rounds_roll_ups_keep_the_tree_it_closed_with(app: TestApp) {
        app.seed().await;
        let mut catalog = app.admin_catalog();
        for _ in 0..3 {
            submit(&app, "c1", "jinshi-v1").await.unwrap();
        }
        submit(&app, "c1", "dongshan-c1").await.unwrap();
        // Close the round early, after its last interview, then move the village.
        let mut closing = pb::Campaign { id: "c1".into(), close_time: Some(ts(now_seconds() - 30)), ..Default::default() };
        catalog.update_campaign(campaign_update(closing.clone(), &["close_time"])).await.unwrap();
        catalog
            .update_unit(unit_update(pb::Unit { id: "jinshi-v1".into(), parent_id: "dongshan".into(), ..Default::default() }, &["parent_id"]))
            .await
            .unwrap();
        // The closed round reads on its own tree: jinshi keeps its villages' figures.
        assert_eq!(unit_score(&app, "c1", "jinshi").await.submission_count, 3);
        assert_eq!(unit_score(&app, "c1", "dongshan").await.submission_count, 1);
        assert_eq!(unit_score(&app, "c1", "city").await.submission_count, 4);
        assert_eq!(ranked_units(&app, "c1", "jinshi").await, ["jinshi-v1", "jinshi-v2"]);

        // A new round reads on today's tree.
        app.create_campaign(campaign("c2", Some("c1"), 1)).await;
        submit(&app, "c2", "jinshi-v1").await.unwrap();
        assert_eq!(unit_score(&app, "c2", "jinshi").await.submission_count, 0);
        assert_eq!(unit_score(&app, "c2", "dongshan").await.submission_count, 1);
        assert_eq!(ranked_units(&app, "c2", "dongshan").await, ["dongshan-c1", "dongshan-c2", "jinshi-v1"]);

        // Reopening c1 past the move puts it on today's tree.
        closing.close_time = Some(ts(now_seconds() + 86_400));
        catalog.update_campaign(campaign_update(closing, &["close_time"])).await.unwrap();
        assert_eq!(unit_score(&app, "c1", "jinshi").await.submission_count, 0);
        assert_eq!(unit_score(&app, "c1", "dongshan").await.submission_count, 4);
    }

    async fn campaign_updates_keep_what_its_data_depends_on(app: TestApp) {
        app.seed().await;
        let mut questionnaire = standard_questionnaire();
        questionnaire.id = "q2".into();
        app.create_questionnaire(questionnaire).await;
        app.create_campaign(campaign("c0", None, 1)).await;
        let mut catalog = app.admin_catalog();
        // Before any data, anything but the id may change.
        let changed = catalog
            .update_campaign(campaign_update(pb::Campaign { id: "c1".into(), name: "2026 第二轮".into(), min_sample: 25, questionnaire_id: "q2".into(), ..Default::default() }, &[]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((changed.name.as_str(), changed.min_sample, changed.questionnaire_id.as_str()), ("2026 第二轮", 25, "q2"));
        submit(&app, "c1", "jinshi-v1").await.unwrap();

        let c1 = |c: pb::Campaign| pb::Campaign { id: "c1".into(), ..c };
        let cases: Vec<(pb::Campaign, &[&str], &str)> = vec![
            (c1(pb::Campaign { questionnaire_id: "q1".into(), ..Default::default() }), &["questionnaire_id"], "campaign.questionnaire_id"),
            (c1(pb::Campaign { scope_unit_id: "jinshi".into(), ..Default::default() }), &["scope_unit_id"], "campaign.scope_unit_id"),
            (c1(pb::Campaign { close_time: Some(ts(now_seconds() - 120)), ..Default::default() }), &["close_time"], "campaign.close_time"),
            (c1(pb::Campaign { open_time: Some(ts(now_seconds() - 30)), ..Default::default() }), &["open_time"], "campaign.open_time"),
            (c1(pb::Campaign { compared_campaign_id: "c1".into(), ..Default::default() }), &["compared_campaign_id"], "campaign.compared_campaign_id"),
            (c1(pb::Campaign { compared_campaign_id: "nope".into(), ..Default::default() }), &["compared_campaign_id"], "campaign.compared_campaign_id"),
        ];
        for (campaign, paths, field) in cases {
            let status = catalog.update_campaign(campaign_update(campaign, paths)).await.unwrap_err();
            assert_eq!(precondition(&status).1, field);
        }
        // c0 compared with c1, then c1 with c0, would be a cycle.
        catalog
            .update_campaign(campaign_update(pb::Campaign { id: "c0".into(), compared_campaign_id: "c1".into(), ..Default::default() }, &["compared_campaign_id"]))
            .await
            .unwrap();
        let status = catalog
            .update_campaign(campaign_update(c1(pb::Campaign { compared_campaign_id: "c0".into(), ..Default::default() }), &["compared_campaign_id"]))
            .await
            .unwrap_err();
        let (kind, subject, _) = precondition(&status);
        assert_eq!((kind.as_str(), subject.as_str()), ("COMPARISON_CYCLE", "campaign.compared_campaign_id"));
        // Malformed requests name the field or the path.
        let status = catalog
            .update_campaign(campaign_update(c1(pb::Campaign { close_time: Some(ts(0)), ..Default::default() }), &["close_time"]))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["campaign.close_time"]);
        let status = catalog.update_campaign(campaign_update(c1(pb::Campaign::default()), &["id", "create_time"])).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["update_mask.paths[0]", "update_mask.paths[1]"]);
        let stored = catalog.get_campaign(pb::GetCampaignRequest { id: "c1".into() }).await.unwrap().into_inner();
        assert_eq!((stored.questionnaire_id.as_str(), stored.compared_campaign_id.as_str()), ("q2", ""));

        // Closing early (after the latest interview) and extending are allowed; the round then
        // refuses interviews after its new close.
        let early = ts(now_seconds() - 30);
        let closed = catalog
            .update_campaign(campaign_update(c1(pb::Campaign { close_time: Some(early), min_sample: 5, ..Default::default() }), &["close_time", "min_sample"]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((closed.close_time, closed.min_sample), (Some(early), 5));
        let mut late = visit("c1", "jinshi-v1", vec![answer("security", "a")]);
        late.end_time = Some(ts(now_seconds() - 5));
        late.start_time = Some(ts(now_seconds() - 600));
        let status = app.field_worker(&["city"]).submit_visit(late).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
        // Only admins change the catalog.
        let status = app
            .catalog_as(Some(&app.token(Role::Analyst, &[])))
            .update_campaign(campaign_update(c1(pb::Campaign { name: "x".into(), ..Default::default() }), &["name"]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
    }
}
