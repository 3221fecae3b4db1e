//! A campaign's per-unit reads refuse units outside its scope, as its submissions do, instead of
//! reporting figures of nobody.

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use canvass::proto::v1::call_center_service_client::CallCenterServiceClient;
use canvass::proto::v1::review_service_client::ReviewServiceClient;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::*;

/// Asserts FAILED_PRECONDITION with the PreconditionFailure a submission for `unit` gets.
fn assert_out_of_scope(status: &Status, unit: &str, what: &str) {
    assert_eq!(
        status.code(),
        Code::FailedPrecondition,
        "{what} {unit}: {status:?}"
    );
    let failure = status
        .get_details_precondition_failure()
        .unwrap_or_else(|| panic!("{what} {unit}: no PreconditionFailure"));
    assert_eq!(failure.violations.len(), 1, "{what} {unit}");
    assert_eq!(
        failure.violations[0].r#type, "UNIT_OUT_OF_CAMPAIGN_SCOPE",
        "{what} {unit}"
    );
    assert_eq!(
        failure.violations[0].subject,
        format!("units/{unit}"),
        "{what} {unit}"
    );
}

per_backend! {
    async fn per_unit_reads_refuse_units_outside_the_campaigns_scope(app: TestApp) {
        app.seed().await;
        let mut round = campaign("jinshi-round", None, 1);
        round.scope_unit_id = "jinshi".into();
        app.create_campaign(round).await;
        let mut worker = app.field_worker(&["city"]);
        for option in ["a", "b", "e"] {
            worker.submit_visit(visit("jinshi-round", "jinshi-v1", vec![answer("security", option)])).await.unwrap();
        }
        // The submission for a unit outside the scope is the reference.
        let status = worker.submit_visit(visit("jinshi-round", "dongshan-c1", vec![answer("security", "a")])).await.unwrap_err();
        assert_out_of_scope(&status, "dongshan-c1", "SubmitVisit");

        let mut analyst = app.analyst();
        let mut call_center = CallCenterServiceClient::with_interceptor(app.channel.clone(), TestApp::bearer_for(&app.token(Role::Analyst, &[])));
        let mut reviewer = ReviewServiceClient::with_interceptor(app.channel.clone(), TestApp::bearer_for(&app.token(Role::Reviewer, &["city"])));
        // A sibling subtree, a department, and the scope's own parent: the city's figures in
        // this campaign would be jinshi's under another name.
        for unit in ["dongshan-c1", "dongshan", "xinfang", "city"] {
            let status = analyst
                .get_unit_score(pb::GetUnitScoreRequest { campaign_id: "jinshi-round".into(), unit_id: unit.into() })
                .await.unwrap_err();
            assert_out_of_scope(&status, unit, "GetUnitScore");
            let status = analyst
                .watch_unit_score(pb::WatchUnitScoreRequest { campaign_id: "jinshi-round".into(), unit_id: unit.into() })
                .await.unwrap_err();
            assert_out_of_scope(&status, unit, "WatchUnitScore");
            let status = analyst
                .get_unit_weaknesses(pb::GetUnitWeaknessesRequest { campaign_id: "jinshi-round".into(), unit_id: unit.into(), ..Default::default() })
                .await.unwrap_err();
            assert_out_of_scope(&status, unit, "GetUnitWeaknesses");
            let status = call_center
                .get_response_rates(pb::GetResponseRatesRequest { campaign_id: "jinshi-round".into(), unit_id: unit.into() })
                .await.unwrap_err();
            assert_out_of_scope(&status, unit, "GetResponseRates");
            let status = reviewer
                .get_grievance_summary(pb::GetGrievanceSummaryRequest { campaign_id: "jinshi-round".into(), unit_id: unit.into() })
                .await.unwrap_err();
            assert_out_of_scope(&status, unit, "GetGrievanceSummary");
        }

        // Units in the scope answer as before, with the figures of their own answers.
        let stored = stored_submissions(&app, "jinshi-round").await;
        for unit in ["jinshi", "jinshi-v1", "jinshi-v2"] {
            let expected = recompute(&stored, &seeded_subtree(unit));
            let score = unit_score(&app, "jinshi-round", unit).await;
            assert_eq!(score.submission_count, expected.submissions, "{unit}");
            match (score.composite_score, expected.composite) {
                (Some(a), Some(e)) => assert!((a - e).abs() < 1e-9, "{unit}: {a} vs {e}"),
                (a, e) => assert_eq!(a, e, "{unit}"),
            }
            analyst.get_unit_weaknesses(pb::GetUnitWeaknessesRequest { campaign_id: "jinshi-round".into(), unit_id: unit.into(), ..Default::default() }).await.unwrap();
            call_center.get_response_rates(pb::GetResponseRatesRequest { campaign_id: "jinshi-round".into(), unit_id: unit.into() }).await.unwrap();
            reviewer.get_grievance_summary(pb::GetGrievanceSummaryRequest { campaign_id: "jinshi-round".into(), unit_id: unit.into() }).await.unwrap();
        }
        // The city-wide campaign still covers every unit.
        assert_eq!(unit_score(&app, "c1", "dongshan-c1").await.submission_count, 0);

        // Unknown units stay NOT_FOUND, and a reviewer's units are checked before the scope.
        let status = analyst
            .get_unit_score(pb::GetUnitScoreRequest { campaign_id: "jinshi-round".into(), unit_id: "nowhere".into() })
            .await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        let mut other_reviewer = ReviewServiceClient::with_interceptor(app.channel.clone(), TestApp::bearer_for(&app.token(Role::Reviewer, &["jinshi"])));
        let status = other_reviewer
            .get_grievance_summary(pb::GetGrievanceSummaryRequest { campaign_id: "jinshi-round".into(), unit_id: "dongshan".into() })
            .await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);

        // GetUnitHistory names no campaign, so it has nothing to refuse: it lists the campaigns
        // whose scope covers the unit, and only those.
        let history = analyst.get_unit_history(pb::GetUnitHistoryRequest { unit_id: "dongshan-c1".into(), ..Default::default() }).await.unwrap().into_inner();
        let campaigns: Vec<_> = history.points.iter().map(|p| p.campaign_id.as_str()).collect();
        assert_eq!(campaigns, ["c1"]);
        let history = analyst.get_unit_history(pb::GetUnitHistoryRequest { unit_id: "jinshi-v1".into(), ..Default::default() }).await.unwrap().into_inner();
        let mut campaigns: Vec<_> = history.points.iter().map(|p| p.campaign_id.as_str()).collect();
        campaigns.sort();
        assert_eq!(campaigns, ["c1", "jinshi-round"]);
    }
}
