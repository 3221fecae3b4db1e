//! A realistic catalog and realistic submissions: a city of 30 townships and 969 villages
//! (1,000 units), a 12-indicator questionnaire with five scored options and "don't know" each,
//! one open campaign, and visits with random answers (each village leaning its own way, so
//! rankings have something to rank), GPS fixes and UUIDv7 ids.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use rand::Rng;
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::catalog_service_client::CatalogServiceClient;

pub const TOWNSHIPS: usize = 30;
pub const UNITS: usize = 1_000;
const INDICATORS: [(&str, &str, f64); 12] = [
    ("security", "您对本地的社会治安感到安全吗?", 10.0),
    ("police_image", "您对公安机关的形象满意吗?", 6.0),
    ("cadre_visits", "村(社区)干部走访过您家吗?", 6.0),
    ("dispute_mediation", "邻里纠纷能及时化解吗?", 5.0),
    ("traffic_safety", "您对交通安全状况满意吗?", 5.0),
    ("fraud_prevention", "您了解防范电信诈骗的知识吗?", 4.0),
    ("drug_control", "您对禁毒工作满意吗?", 4.0),
    ("fire_safety", "您对消防安全状况满意吗?", 4.0),
    ("patrols", "您经常看到巡逻吗?", 3.0),
    ("petitions", "您的诉求能得到及时回应吗?", 3.0),
    ("environment", "您对村容村貌满意吗?", 3.0),
    ("overall", "总体来说, 您对平安建设满意吗?", 8.0),
];
const POINTS: [u32; 5] = [100, 80, 60, 40, 0];
const OPTION_CODES: [&str; 5] = ["a", "b", "c", "d", "e"];
const CITY_CENTRE: (f64, f64) = (29.87, 121.55);

/// The ids of one benchmark run's catalog. Every id carries the run's tag, so a run against a
/// shared server (`--target`) never collides with an earlier one.
#[derive(Clone)]
pub struct Catalog {
    /// The campaign submissions go to.
    pub campaign_id: String,
    /// A campaign created before it, which it compares against (the province catalog's).
    pub earlier_campaign_id: Option<String>,
    /// The root unit (a city, or a province).
    pub city: String,
    pub townships: Vec<String>,
    /// Villages of each township.
    pub villages: Vec<Vec<String>>,
}

impl Catalog {
    pub fn new(tag: &str) -> Self {
        let townships: Vec<String> = (1..=TOWNSHIPS).map(|t| format!("{tag}-t{t:02}")).collect();
        let villages_total = UNITS - 1 - TOWNSHIPS;
        let villages = townships
            .iter()
            .enumerate()
            .map(|(t, township)| {
                // 969 villages: 32 per township, the first nine get one more.
                let count =
                    villages_total / TOWNSHIPS + usize::from(t < villages_total % TOWNSHIPS);
                (1..=count).map(|v| format!("{township}-v{v:02}")).collect()
            })
            .collect();
        Self {
            campaign_id: format!("{tag}-round1"),
            earlier_campaign_id: None,
            city: format!("{tag}-city"),
            townships,
            villages,
        }
    }

    pub fn questionnaire_id(&self) -> String {
        format!("{}-q", self.campaign_id)
    }

    /// Creates units, questionnaire and campaign through the catalog API, each level's units
    /// concurrently.
    pub async fn create(&self, channel: Channel, admin: &MetadataValue<Ascii>) -> Result<()> {
        let client = CatalogServiceClient::new(channel.clone());
        create_units(
            &client,
            admin,
            vec![unit(&self.city, "示范市".into(), pb::UnitKind::City, "")],
        )
        .await?;
        let townships = self.townships.iter().enumerate().map(|(i, t)| {
            unit(
                t,
                format!("第{}镇", i + 1),
                pb::UnitKind::Township,
                &self.city,
            )
        });
        create_units(&client, admin, townships.collect()).await?;
        let villages = self
            .townships
            .iter()
            .zip(&self.villages)
            .flat_map(|(t, vs)| {
                vs.iter().enumerate().map(move |(i, v)| {
                    unit(v, format!("{t} 第{}村", i + 1), pb::UnitKind::Village, t)
                })
            });
        create_units(&client, admin, villages.collect()).await?;

        self.create_survey(channel, admin).await
    }

    /// Creates the questionnaire and the campaigns (the earlier one first) over the root.
    pub async fn create_survey(
        &self,
        channel: Channel,
        admin: &MetadataValue<Ascii>,
    ) -> Result<()> {
        let mut c = CatalogServiceClient::new(channel);
        let indicators = INDICATORS
            .iter()
            .map(|(code, text, weight)| {
                let mut options: Vec<pb::AnswerOption> = OPTION_CODES
                    .iter()
                    .zip(POINTS)
                    .zip(["满意", "比较满意", "一般", "不太满意", "不满意"])
                    .map(|((code, points), label)| pb::AnswerOption {
                        code: (*code).into(),
                        label: label.into(),
                        kind: pb::OptionKind::Scored.into(),
                        points,
                    })
                    .collect();
                options.push(pb::AnswerOption {
                    code: "dk".into(),
                    label: "不知道".into(),
                    kind: pb::OptionKind::DontKnow.into(),
                    points: 0,
                });
                pb::Indicator {
                    code: (*code).into(),
                    text: (*text).into(),
                    weight: *weight,
                    options,
                }
            })
            .collect();
        c.create_questionnaire(authed(
            pb::CreateQuestionnaireRequest {
                questionnaire: Some(pb::Questionnaire {
                    id: self.questionnaire_id(),
                    name: "平安建设满意度".into(),
                    indicators,
                    ..Default::default()
                }),
            },
            admin,
        ))
        .await
        .map_err(|s| Error::internal(format!("creating the questionnaire: {s:?}")))?;
        let now = unix_seconds();
        let campaigns = self
            .earlier_campaign_id
            .iter()
            .map(|id| (id, None, "基准测试 第一轮"))
            .chain([(
                &self.campaign_id,
                self.earlier_campaign_id.clone(),
                "基准测试 本轮",
            )]);
        for (id, compared, name) in campaigns {
            c.create_campaign(authed(
                pb::CreateCampaignRequest {
                    campaign: Some(pb::Campaign {
                        id: id.clone(),
                        name: name.into(),
                        questionnaire_id: self.questionnaire_id(),
                        scope_unit_id: self.city.clone(),
                        open_time: Some(timestamp(now - 30 * 86_400)),
                        close_time: Some(timestamp(now + 30 * 86_400)),
                        compared_campaign_id: compared.unwrap_or_default(),
                        ..Default::default()
                    }),
                },
                admin,
            ))
            .await
            .map_err(|s| Error::internal(format!("creating campaign {id}: {s:?}")))?;
        }
        Ok(())
    }
}

async fn create_units(
    client: &CatalogServiceClient<Channel>,
    admin: &MetadataValue<Ascii>,
    units: Vec<pb::Unit>,
) -> Result<()> {
    futures::stream::iter(units)
        .map(|unit| {
            let mut client = client.clone();
            async move {
                let id = unit.id.clone();
                client
                    .create_unit(authed(pb::CreateUnitRequest { unit: Some(unit) }, admin))
                    .await
                    .map_err(|s| Error::internal(format!("creating unit {id}: {s:?}")))
            }
        })
        .buffer_unordered(32)
        .try_for_each(|_| futures::future::ready(Ok(())))
        .await
}

/// A unit to create: `parent` empty for a root.
pub fn unit(id: &str, name: String, kind: pb::UnitKind, parent: &str) -> pb::Unit {
    pb::Unit {
        id: id.to_owned(),
        name,
        kind: kind.into(),
        parent_id: parent.to_owned(),
        ..Default::default()
    }
}

/// `request` with `authorization: Bearer …`.
pub fn authed<T>(message: T, bearer: &MetadataValue<Ascii>) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    request
}

pub fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64
}

fn timestamp(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

/// One simulated device: a field worker's phone assigned to a township.
pub struct Device {
    pub township: usize,
    pub serial: usize,
}

impl Device {
    /// A visit to a random village of the device's township, interviewed in the last few hours.
    pub fn visit(&self, catalog: &Catalog, rng: &mut impl Rng) -> pb::SubmitVisitRequest {
        let villages = &catalog.villages[self.township];
        let village = rng.random_range(0..villages.len());
        let end = unix_seconds() - rng.random_range(60..6 * 3600);
        // Each village leans its own way: the chance of the best answer drifts with its index.
        let lean = ((self.township * 37 + village * 11) % 100) as f64 / 100.0;
        let answers = INDICATORS
            .iter()
            .map(|(code, _, _)| {
                let option = if rng.random_bool(0.05) {
                    "dk"
                } else {
                    let skew: f64 = rng.random::<f64>().powf(0.5 + 1.5 * lean);
                    OPTION_CODES[((1.0 - skew) * 5.0).min(4.0) as usize]
                };
                pb::Answer {
                    indicator_code: (*code).into(),
                    option_code: option.into(),
                }
            })
            .collect();
        pb::SubmitVisitRequest {
            submission_id: uuid::Uuid::now_v7().to_string(),
            campaign_id: catalog.campaign_id.clone(),
            unit_id: villages[village].clone(),
            household_ref: format!(
                "{}-{}-{}",
                villages[village],
                self.serial,
                uuid::Uuid::new_v4().simple()
            ),
            start_time: Some(timestamp(end - rng.random_range(420..1500))),
            end_time: Some(timestamp(end)),
            location: Some(pb::GeoLocation {
                latitude: CITY_CENTRE.0 + rng.random_range(-0.2..0.2),
                longitude: CITY_CENTRE.1 + rng.random_range(-0.2..0.2),
                accuracy_meters: rng.random_range(3.0..30.0),
            }),
            answers,
            ..Default::default()
        }
    }
}
