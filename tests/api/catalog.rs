//! Units, questionnaires and campaigns: creation, reads, pagination and bad input.

use canvass::proto::v1 as pb;
use tonic::Code;

use crate::helpers::*;

async fn all_unit_ids(app: &TestApp) -> Vec<String> {
    let mut catalog = app.admin_catalog();
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = catalog
            .list_units(pb::ListUnitsRequest {
                parent_id: String::new(),
                page_size: 3,
                page_token,
                show_archived: false,
            })
            .await
            .unwrap()
            .into_inner();
        ids.extend(page.units.into_iter().map(|u| u.id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        page_token = page.next_page_token;
    }
}

fn unit(id: &str, name: &str, kind: pb::UnitKind, parent: &str) -> pb::CreateUnitRequest {
    pb::CreateUnitRequest {
        unit: Some(pb::Unit {
            id: id.into(),
            name: name.into(),
            kind: kind.into(),
            parent_id: parent.into(),
            ..Default::default()
        }),
    }
}

per_backend! {
    async fn units_round_trip_with_chinese_names_and_paginate(app: TestApp) {
        app.seed_units().await;
        let mut catalog = app.admin_catalog();
        let got = catalog.get_unit(pb::GetUnitRequest { id: "dongshan".into() }).await.unwrap().into_inner();
        assert_eq!(got.name, "东山办事处");
        assert_eq!(got.kind(), pb::UnitKind::Subdistrict);
        assert_eq!(got.parent_id, "city");
        assert!(got.create_time.is_some());

        let mut expected = vec!["city", "jinshi", "jinshi-v1", "jinshi-v2", "dongshan", "dongshan-c1", "dongshan-c2", "xinfang"];
        expected.sort();
        assert_eq!(all_unit_ids(&app).await, expected);

        let children = catalog
            .list_units(pb::ListUnitsRequest { parent_id: "jinshi".into(), page_size: 0, page_token: String::new(), show_archived: false })
            .await
            .unwrap()
            .into_inner();
        let names: Vec<_> = children.units.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["金石一村", "金石二村"]);
        assert!(children.next_page_token.is_empty());

        // A token issued for one listing is refused for another.
        let first = catalog
            .list_units(pb::ListUnitsRequest { parent_id: String::new(), page_size: 1, page_token: String::new(), show_archived: false })
            .await
            .unwrap()
            .into_inner();
        let status = catalog
            .list_units(pb::ListUnitsRequest { parent_id: "jinshi".into(), page_size: 1, page_token: first.next_page_token, show_archived: false })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["page_token"]);
    }

    async fn unit_errors_name_the_fields_and_write_nothing(app: TestApp) {
        app.seed_units().await;
        let mut catalog = app.admin_catalog();
        let cases = [
            (unit("", "名", pb::UnitKind::Village, "jinshi"), vec!["unit.id"]),
            (unit("Bad Id", "名", pb::UnitKind::Village, "jinshi"), vec!["unit.id"]),
            (unit("v9", "   ", pb::UnitKind::Village, "jinshi"), vec!["unit.name"]),
            (unit("v9", "名", pb::UnitKind::Unspecified, "jinshi"), vec!["unit.kind"]),
            (unit("v9", "", pb::UnitKind::Unspecified, "NOT VALID"), vec!["unit.name", "unit.kind", "unit.parent_id"]),
            (pb::CreateUnitRequest { unit: None }, vec!["unit.id", "unit.name", "unit.kind"]),
        ];
        for (request, fields) in cases {
            let status = catalog.create_unit(request).await.unwrap_err();
            assert_eq!(violated_fields(&status), fields);
        }
        let status = catalog.create_unit(unit("v9", "九村", pb::UnitKind::Village, "nowhere")).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        let status = catalog.create_unit(unit("jinshi", "重复", pb::UnitKind::Township, "city")).await.unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
        assert_eq!(all_unit_ids(&app).await.len(), 8, "nothing was written");
        let status = catalog.get_unit(pb::GetUnitRequest { id: "v9".into() }).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
    }

    async fn questionnaires_round_trip_and_reject_bad_definitions(app: TestApp) {
        let mut catalog = app.admin_catalog();
        let created = catalog
            .create_questionnaire(pb::CreateQuestionnaireRequest { questionnaire: Some(standard_questionnaire()) })
            .await
            .unwrap()
            .into_inner();
        let fetched = catalog.get_questionnaire(pb::GetQuestionnaireRequest { id: "q1".into() }).await.unwrap().into_inner();
        assert_eq!(created, fetched);
        assert_eq!(fetched.name, "平安建设满意度");
        assert_eq!(fetched.indicators[0].options[5].kind(), pb::OptionKind::DontKnow);
        assert_eq!(fetched.indicators[1].weight, 4.0);

        let mut bad = standard_questionnaire();
        bad.id = "q2".into();
        bad.name = " ".into();
        bad.indicators[0].weight = 0.0;
        bad.indicators[1].weight = f64::NAN;
        bad.indicators[1].options[0].points = 101;
        bad.indicators[2].code = "security".into();
        bad.indicators[2].text = String::new();
        bad.indicators[2].options[1].code = "a".into();
        let status = catalog
            .create_questionnaire(pb::CreateQuestionnaireRequest { questionnaire: Some(bad) })
            .await
            .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            [
                "questionnaire.name",
                "questionnaire.indicators[0].weight",
                "questionnaire.indicators[1].weight",
                "questionnaire.indicators[1].options[0].points",
                "questionnaire.indicators[2].code",
                "questionnaire.indicators[2].text",
                "questionnaire.indicators[2].options[1].code",
            ]
        );
        let mut negative = standard_questionnaire();
        negative.id = "q3".into();
        negative.indicators[0].weight = -1.0;
        let status = catalog
            .create_questionnaire(pb::CreateQuestionnaireRequest { questionnaire: Some(negative) })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["questionnaire.indicators[0].weight"]);

        let listed = catalog
            .list_questionnaires(pb::ListQuestionnairesRequest { page_size: 10, page_token: String::new() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.questionnaires.len(), 1, "only the valid questionnaire was stored");
        let status = catalog
            .create_questionnaire(pb::CreateQuestionnaireRequest { questionnaire: Some(standard_questionnaire()) })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists);
    }

    async fn campaigns_round_trip_and_check_references(app: TestApp) {
        app.seed().await;
        let mut catalog = app.admin_catalog();
        app.create_campaign(campaign("c2", Some("c1"), 0)).await;
        let c2 = catalog.get_campaign(pb::GetCampaignRequest { id: "c2".into() }).await.unwrap().into_inner();
        assert_eq!(c2.compared_campaign_id, "c1");
        assert_eq!(c2.min_sample, 30, "0 means the default minimum sample");

        let mut unknown_q = campaign("c3", None, 1);
        unknown_q.questionnaire_id = "missing".into();
        let status = catalog.create_campaign(pb::CreateCampaignRequest { campaign: Some(unknown_q) }).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        let mut unknown_compared = campaign("c3", Some("c0"), 1);
        unknown_compared.name = "x".into();
        let status = catalog.create_campaign(pb::CreateCampaignRequest { campaign: Some(unknown_compared) }).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);

        let mut backwards = campaign("c3", None, 1);
        backwards.close_time = backwards.open_time;
        backwards.name = String::new();
        let status = catalog.create_campaign(pb::CreateCampaignRequest { campaign: Some(backwards) }).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["campaign.name", "campaign.close_time"]);

        let listed = catalog
            .list_campaigns(pb::ListCampaignsRequest { page_size: 0, page_token: String::new() })
            .await
            .unwrap()
            .into_inner();
        let ids: Vec<_> = listed.campaigns.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2"]);
    }
}
