//! The audit log: an entry for every catalog change and review decision, with its actor and
//! the changed fields before and after; readable by admins only, newest first, filtered and
//! paginated.

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use serde_json::{Value, json};
use tonic::Code;

use crate::helpers::*;

fn request(kind: &str, id: &str) -> pb::ListAuditEntriesRequest {
    pb::ListAuditEntriesRequest {
        target_kind: kind.into(),
        target_id: id.into(),
        ..Default::default()
    }
}

async fn entries(app: &TestApp, r: pb::ListAuditEntriesRequest) -> Vec<pb::AuditEntry> {
    app.audit_service(Role::Admin)
        .list_audit_entries(r)
        .await
        .unwrap()
        .into_inner()
        .entries
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

per_backend! {
    async fn every_catalog_change_and_review_decision_is_recorded(app: TestApp) {
        let started = now_seconds() - 1;
        app.seed().await;
        let mut catalog = app.admin_catalog();
        let rename = pb::UpdateUnitRequest {
            unit: Some(pb::Unit { id: "jinshi".into(), name: "金石街道".into(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["name".into()] }),
        };
        catalog.update_unit(rename.clone()).await.unwrap();
        // The same rename again changes nothing and records nothing.
        catalog.update_unit(rename).await.unwrap();
        catalog.archive_unit(pb::ArchiveUnitRequest { id: "xinfang".into() }).await.unwrap();
        catalog.restore_unit(pb::RestoreUnitRequest { id: "xinfang".into() }).await.unwrap();
        // A refused change records nothing.
        catalog.archive_unit(pb::ArchiveUnitRequest { id: "jinshi".into() }).await.unwrap_err();
        catalog
            .update_campaign(pb::UpdateCampaignRequest {
                campaign: Some(pb::Campaign { id: "c1".into(), min_sample: 12, ..Default::default() }),
                update_mask: None,
            })
            .await
            .unwrap();

        let unit = entries(&app, request("unit", "jinshi")).await;
        assert_eq!(unit.len(), 2, "{unit:?}");
        // Newest first: the rename, then the creation.
        assert_eq!((unit[0].action.as_str(), unit[1].action.as_str()), ("update", "create"));
        assert_eq!((unit[0].actor.as_str(), unit[0].actor_role.as_str()), ("admin-tester", "admin"));
        assert_eq!(json_of(&unit[0].before), json!({"name": "金石镇"}));
        assert_eq!(json_of(&unit[0].after), json!({"name": "金石街道"}));
        assert_eq!(json_of(&unit[1].before), json!({}));
        assert_eq!(json_of(&unit[1].after)["parent_id"], json!("city"));
        assert!(unit[0].sequence > unit[1].sequence && unit[0].time.is_some());

        let xinfang = entries(&app, request("unit", "xinfang")).await;
        let actions: Vec<&str> = xinfang.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["restore", "archive", "create"]);
        assert_eq!(json_of(&xinfang[1].before), json!({"archived_at": null}));
        assert!(json_of(&xinfang[1].after)["archived_at"].is_i64());

        let questionnaire = entries(&app, request("questionnaire", "q1")).await;
        assert_eq!(questionnaire.len(), 1);
        assert_eq!(json_of(&questionnaire[0].after)["indicators"], json!(["security", "police", "visits"]));
        let campaign = entries(&app, request("campaign", "c1")).await;
        let actions: Vec<&str> = campaign.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["update", "create"]);
        assert_eq!((json_of(&campaign[0].before), json_of(&campaign[0].after)), (json!({"min_sample": 1}), json!({"min_sample": 12})));

        // Review decisions, by the reviewer who took them.
        let mut worker = app.field_worker(&["city"]);
        let mut fast = visit("c1", "jinshi-v1", vec![answer("security", "a")]);
        fast.start_time = fast.end_time;
        fast.grievances = vec![pb::GrievanceReport { category: "road_safety".into(), description: "村口路灯坏了".into(), urgency: pb::Urgency::High.into() }];
        worker.submit_visit(fast.clone()).await.unwrap();
        app.review("c1", &fast.submission_id, pb::ReviewDecision::Approve).await;
        let mut staff = app.review_service(Role::Reviewer, &["city"]);
        let grievance = staff
            .list_grievances(pb::ListGrievancesRequest { campaign_id: "c1".into(), ..Default::default() })
            .await.unwrap().into_inner().grievances.remove(0);
        staff
            .update_grievance(pb::UpdateGrievanceRequest { campaign_id: "c1".into(), grievance_id: grievance.id.clone(), status: pb::GrievanceStatus::Resolved.into() })
            .await
            .unwrap();
        let review = entries(&app, request("submission", &format!("c1/{}", fast.submission_id))).await;
        assert_eq!(review.len(), 1);
        assert_eq!((review[0].actor.as_str(), review[0].actor_role.as_str(), review[0].action.as_str()), ("reviewer-tester", "reviewer", "review"));
        assert_eq!(json_of(&review[0].before), json!({"review_state": "flagged", "reason": null}));
        assert_eq!(json_of(&review[0].after)["review_state"], json!("approved"));
        let followed = entries(&app, request("grievance", &format!("c1/{}", grievance.id))).await;
        assert_eq!(followed.len(), 1);
        assert_eq!((json_of(&followed[0].before), json_of(&followed[0].after)), (json!({"status": "open"}), json!({"status": "resolved"})));

        // Filters: by actor, by time; pages walk newest first without overlap.
        let by_reviewer = entries(&app, pb::ListAuditEntriesRequest { actor: "reviewer-tester".into(), ..Default::default() }).await;
        assert_eq!(by_reviewer.len(), 2);
        let future = entries(&app, pb::ListAuditEntriesRequest { start_time: Some(ts(now_seconds() + 3600)), ..Default::default() }).await;
        assert!(future.is_empty());
        let all = entries(&app, pb::ListAuditEntriesRequest { start_time: Some(ts(started)), ..Default::default() }).await;
        // 8 units, a questionnaire, a campaign, 4 changes, a review and a grievance.
        assert_eq!(all.len(), 16, "{all:?}");
        let mut token = String::new();
        let mut walked = Vec::new();
        loop {
            let page = app
                .audit_service(Role::Admin)
                .list_audit_entries(pb::ListAuditEntriesRequest { page_size: 5, page_token: token, ..Default::default() })
                .await.unwrap().into_inner();
            walked.extend(page.entries.into_iter().map(|e| e.sequence));
            if page.next_page_token.is_empty() { break; }
            token = page.next_page_token;
        }
        assert_eq!(walked, all.iter().map(|e| e.sequence).collect::<Vec<_>>());
        let status = app
            .audit_service(Role::Admin)
            .list_audit_entries(pb::ListAuditEntriesRequest { target_id: "jinshi".into(), ..Default::default() })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["target_kind"]);
    }

    async fn only_admins_read_the_audit_log(app: TestApp) {
        app.seed_units().await;
        for role in [Role::Analyst, Role::Reviewer, Role::FieldWorker, Role::CallCenter] {
            let status = app.audit_service(role).list_audit_entries(pb::ListAuditEntriesRequest::default()).await.unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{role}");
        }
        assert_eq!(entries(&app, pb::ListAuditEntriesRequest::default()).await.len(), 8);
    }
}
