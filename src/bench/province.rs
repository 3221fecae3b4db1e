//! A province-sized catalog: 1 province, 14 prefectures, 120 counties, 2,000 townships and
//! 25,000 villages (27,135 units), the same 12-indicator questionnaire, and two open campaigns
//! over the province, the later one compared with the earlier. Units are created in one
//! ImportUnits call (one CreateUnit each would take minutes).

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use super::workload::{Catalog, authed, unit};
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::catalog_service_client::CatalogServiceClient;

pub const PREFECTURES: usize = 14;
pub const COUNTIES: usize = 120;
pub const TOWNSHIPS: usize = 2_000;
pub const VILLAGES: usize = 25_000;

/// Spreads `count` children over `parents`, the first ones getting one more.
fn spread(count: usize, parents: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..parents).map(move |p| (p, count / parents + usize::from(p < count % parents)))
}

/// The province catalog's ids, with the prefectures and counties above its townships.
pub struct Province {
    pub catalog: Catalog,
    pub counties: Vec<String>,
    /// Prefectures and counties with their parents, top down.
    upper: Vec<pb::Unit>,
    /// The county of each township.
    township_county: Vec<usize>,
}

impl Province {
    pub fn new(tag: &str) -> Self {
        let root = format!("{tag}-p");
        let prefectures: Vec<String> = (1..=PREFECTURES).map(|p| format!("{root}{p:02}")).collect();
        let mut upper: Vec<pb::Unit> = prefectures
            .iter()
            .enumerate()
            .map(|(i, id)| {
                unit(
                    id,
                    format!("第{}地区", i + 1),
                    pb::UnitKind::Prefecture,
                    &root,
                )
            })
            .collect();
        let mut counties = Vec::with_capacity(COUNTIES);
        for (p, n) in spread(COUNTIES, PREFECTURES) {
            for c in 1..=n {
                let id = format!("{}c{c:02}", prefectures[p]);
                upper.push(unit(
                    &id,
                    format!("{} 第{c}县", prefectures[p]),
                    pb::UnitKind::County,
                    &prefectures[p],
                ));
                counties.push(id);
            }
        }
        let mut townships = Vec::with_capacity(TOWNSHIPS);
        let mut township_county = Vec::with_capacity(TOWNSHIPS);
        for (c, n) in spread(TOWNSHIPS, COUNTIES) {
            for t in 1..=n {
                townships.push(format!("{}t{t:02}", counties[c]));
                township_county.push(c);
            }
        }
        let villages = spread(VILLAGES, TOWNSHIPS)
            .map(|(t, n)| {
                (1..=n)
                    .map(|v| format!("{}v{v:02}", townships[t]))
                    .collect()
            })
            .collect();
        Self {
            catalog: Catalog {
                campaign_id: format!("{tag}-round2"),
                earlier_campaign_id: Some(format!("{tag}-round1")),
                city: root,
                townships,
                villages,
            },
            counties,
            upper,
            township_county,
        }
    }

    /// Imports every unit in one call, then creates the questionnaire and both campaigns.
    pub async fn create(&self, channel: Channel, admin: &MetadataValue<Ascii>) -> Result<()> {
        let c = &self.catalog;
        let mut units = vec![unit(&c.city, "示范省".into(), pb::UnitKind::Province, "")];
        units.extend(self.upper.iter().cloned());
        for (t, township) in c.townships.iter().enumerate() {
            let county = &self.counties[self.township_county[t]];
            units.push(unit(
                township,
                format!("{township} 镇"),
                pb::UnitKind::Township,
                county,
            ));
            for (v, village) in c.villages[t].iter().enumerate() {
                units.push(unit(
                    village,
                    format!("{township} 第{}村", v + 1),
                    pb::UnitKind::Village,
                    township,
                ));
            }
        }
        CatalogServiceClient::new(channel.clone())
            .max_encoding_message_size(16 << 20)
            .import_units(authed(pb::ImportUnitsRequest { units }, admin))
            .await
            .map_err(|s| Error::internal(format!("importing the province: {s:?}")))?;
        c.create_survey(channel, admin).await
    }
}
