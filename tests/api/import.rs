//! ImportUnits: a catalog from a spreadsheet in one call, all or nothing, rerunnable, every bad
//! row named.

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn row(id: &str, name: &str, kind: pb::UnitKind, parent: &str) -> pb::Unit {
    pb::Unit {
        id: id.into(),
        name: name.into(),
        kind: kind.into(),
        parent_id: parent.into(),
        ..Default::default()
    }
}

fn import(units: Vec<pb::Unit>) -> pb::ImportUnitsRequest {
    pb::ImportUnitsRequest { units }
}

/// Villages first, then their townships, then the city: the file's order is not the tree's.
fn reordered_catalog() -> Vec<pb::Unit> {
    vec![
        row("jinshi-v1", "金石一村", pb::UnitKind::Village, "jinshi"),
        row(
            "dongshan-c1",
            "东山一社区",
            pb::UnitKind::Community,
            "dongshan",
        ),
        row("jinshi", "金石镇", pb::UnitKind::Township, "city"),
        row("dongshan", "东山办事处", pb::UnitKind::Subdistrict, "city"),
        pb::Unit {
            area: Some(pb::GeoArea {
                latitude: 29.87,
                longitude: 121.55,
                radius_meters: 20_000.0,
            }),
            ..row("city", "示范市", pb::UnitKind::City, "")
        },
    ]
}

/// Every unit id in the server's in-memory catalog (ListUnits reads it without reloading).
async fn listed_ids(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .admin_catalog()
            .list_units(pb::ListUnitsRequest {
                parent_id: String::new(),
                page_size: 1000,
                page_token,
                show_archived: true,
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

async fn stored_unit_count(app: &TestApp) -> usize {
    app.store.load_units().await.unwrap().len()
}

per_backend! {
    async fn imports_children_before_parents_and_serves_them_at_once(app: TestApp) {
        let reply = app
            .admin_catalog()
            .import_units(import(reordered_catalog()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((reply.created_count, reply.unchanged_count), (5, 0));
        assert_eq!(
            listed_ids(&app).await,
            ["city", "dongshan", "dongshan-c1", "jinshi", "jinshi-v1"]
        );
        let village = app
            .admin_catalog()
            .get_unit(pb::GetUnitRequest { id: "jinshi-v1".into() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((village.name.as_str(), village.parent_id.as_str()), ("金石一村", "jinshi"));
        let city = app
            .admin_catalog()
            .get_unit(pb::GetUnitRequest { id: "city".into() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(city.area.unwrap().radius_meters, 20_000.0);

        // The imported units take submissions straight away.
        app.create_questionnaire(standard_questionnaire()).await;
        app.create_campaign(campaign("c1", None, 1)).await;
        app.field_worker(&["jinshi"])
            .submit_visit(visit("c1", "jinshi-v1", vec![answer("security", "a")]))
            .await
            .unwrap();
    }

    async fn a_rerun_changes_nothing_and_other_content_is_named(app: TestApp) {
        let mut catalog = app.admin_catalog();
        catalog.import_units(import(reordered_catalog())).await.unwrap();
        let again = catalog
            .import_units(import(reordered_catalog()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((again.created_count, again.unchanged_count), (0, 5));

        // One more village: the rest stand as they are.
        let mut grown = reordered_catalog();
        grown.push(row("jinshi-v2", "金石二村", pb::UnitKind::Village, "jinshi"));
        let reply = catalog.import_units(import(grown)).await.unwrap().into_inner();
        assert_eq!((reply.created_count, reply.unchanged_count), (1, 5));

        // A renamed township is not an update: the row is named and nothing is written.
        let mut renamed = reordered_catalog();
        renamed[2].name = "金石乡".into();
        renamed.push(row("jinshi-v3", "金石三村", pb::UnitKind::Village, "jinshi"));
        let status = catalog.import_units(import(renamed)).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["units[2].id"]);
        assert!(status.message().contains("金石镇"), "{}", status.message());
        assert_eq!(stored_unit_count(&app).await, 6);
    }

    async fn every_bad_row_is_named_and_nothing_is_written(app: TestApp) {
        app.seed_units().await;
        let before = stored_unit_count(&app).await;
        let mut units = vec![
            row("new-v1", "新一村", pb::UnitKind::Village, "jinshi"),          // fine: existing parent
            row("new-v2", "新二村", pb::UnitKind::Unspecified, "jinshi"),      // no kind
            row("new-v3", "新三村", pb::UnitKind::Village, "nowhere"),         // unknown parent
            row("Bad Id", "坏", pb::UnitKind::Village, "jinshi"),              // malformed id
            row("new-v1", "重复", pb::UnitKind::Village, "jinshi"),            // duplicate id
            row("new-v5", "", pb::UnitKind::Village, "jinshi"),                // no name
            row("new-v6", "新六村", pb::UnitKind::Village, "jinshi"),          // bad area
        ];
        units[6].area = Some(pb::GeoArea { latitude: 95.0, longitude: 121.0, radius_meters: 0.0 });
        let status = app.admin_catalog().import_units(import(units)).await.unwrap_err();
        let mut fields = violated_fields(&status);
        fields.sort();
        assert_eq!(
            fields,
            [
                "units[1].kind",
                "units[2].parent_id",
                "units[3].id",
                "units[4].id",
                "units[5].name",
                "units[6].area.latitude",
                "units[6].area.radius_meters",
            ]
        );
        assert!(status.message().contains("units[0]"), "the duplicate names its first row: {}", status.message());
        assert_eq!(stored_unit_count(&app).await, before);
        assert!(!listed_ids(&app).await.contains(&"new-v1".to_string()));
    }

    async fn a_cycle_of_parents_is_refused(app: TestApp) {
        app.seed_units().await;
        let before = stored_unit_count(&app).await;
        let status = app
            .admin_catalog()
            .import_units(import(vec![
                row("a", "甲", pb::UnitKind::Township, "b"),
                row("ok", "好", pb::UnitKind::Village, "city"),
                row("b", "乙", pb::UnitKind::Township, "c"),
                row("c", "丙", pb::UnitKind::Township, "a"),
                row("self", "自", pb::UnitKind::Township, "self"),
            ]))
            .await
            .unwrap_err();
        let mut fields = violated_fields(&status);
        fields.sort();
        assert_eq!(
            fields,
            ["units[0].parent_id", "units[2].parent_id", "units[3].parent_id", "units[4].parent_id"]
        );
        assert!(status.message().contains("cycle"), "{}", status.message());
        assert_eq!(stored_unit_count(&app).await, before);
    }

    async fn only_admins_import(app: TestApp) {
        let analyst = app.token(Role::Analyst, &[]);
        let status = app
            .catalog_as(Some(&analyst))
            .import_units(import(reordered_catalog()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(stored_unit_count(&app).await, 0);
    }
}

per_backend! {
    async fn an_import_is_audited_once_and_refuses_archived_parents(app: TestApp) {
        app.admin_catalog()
            .import_units(import(reordered_catalog()))
            .await
            .unwrap();
        let entries = app
            .audit_service(Role::Admin)
            .list_audit_entries(pb::ListAuditEntriesRequest {
                target_kind: "unit".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .entries;
        let imports: Vec<_> = entries.iter().filter(|e| e.action == "import").collect();
        assert_eq!(imports.len(), 1, "{entries:?}");
        let after: serde_json::Value = serde_json::from_str(&imports[0].after).unwrap();
        let mut created: Vec<&str> = after["created"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap())
            .collect();
        created.sort_unstable();
        assert_eq!(created, ["city", "dongshan", "dongshan-c1", "jinshi", "jinshi-v1"]);

        app.admin_catalog()
            .archive_unit(pb::ArchiveUnitRequest { id: "jinshi-v1".into() })
            .await
            .unwrap();
        let status = app
            .admin_catalog()
            .import_units(import(vec![row(
                "jinshi-v1-a",
                "金石一村一组",
                pb::UnitKind::Village,
                "jinshi-v1",
            )]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&status), ["units[0].parent_id"]);
    }
}
