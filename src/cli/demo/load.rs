//! Sends the demo city to the server: catalog first, then each round's interviews over
//! upload streams, the call center's attempts, reviews of the flagged interviews and the
//! follow-up of grievances.

use std::time::{SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use prost_types::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::city::{self, DEPARTMENTS, TOWNSHIPS};
use super::generate::{CENTRE, Fieldwork, Placed, Round, Size};
use super::{Created, questionnaire};
use crate::cli::client::{Connection, patiently, remote_error};
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::call_center_service_client::CallCenterServiceClient;
use crate::proto::v1::catalog_service_client::CatalogServiceClient;
use crate::proto::v1::review_service_client::ReviewServiceClient;
use crate::proto::v1::submission_service_client::SubmissionServiceClient;
use crate::proto::v1::upload_submissions_response::Result as ItemResult;

const DAY: i64 = 86_400;
/// Unary calls in flight at once (units, call attempts, reviews).
const CONCURRENCY: usize = 16;
/// Upload streams per round, as several phones syncing at once.
const STREAMS: usize = 4;

pub async fn load(
    connection: &Connection,
    prefix: &str,
    size: Size,
    seed: u64,
    rng: &mut StdRng,
) -> Result<Created> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| Error::internal(format!("clock before 1970: {e}")))?
        .as_secs() as i64;
    let (townships, departments) = create_units(connection, prefix, size, rng).await?;
    let catalog = CatalogServiceClient::new(connection.clone());
    let questionnaire_id = format!("{prefix}-safety");
    let request = pb::CreateQuestionnaireRequest {
        questionnaire: Some(questionnaire::questionnaire(&questionnaire_id)),
    };
    patiently(|| {
        let (mut catalog, request) = (catalog.clone(), request.clone());
        async move { catalog.create_questionnaire(request).await }
    })
    .await
    .map_err(|s| remote_error(&s))?;

    let round1 = format!("{prefix}-r1");
    let round2 = format!("{prefix}-r2");
    // Round 1 ran five to three weeks ago; its interviews reach the server only now, so its
    // rules accept uploads up to 60 days after the interview instead of flagging them late.
    let (open1, close1) = (now - 40 * DAY, now - 26 * DAY);
    let (open2, close2) = (now - 5 * DAY, now + 9 * DAY);
    for (id, name, open, close, compared, late_hours) in [
        (&round1, "平安建设满意度 第一轮", open1, close1, "", 60 * 24),
        (
            &round2,
            "平安建设满意度 第二轮",
            open2,
            close2,
            round1.as_str(),
            0,
        ),
    ] {
        let request = pb::CreateCampaignRequest {
            campaign: Some(pb::Campaign {
                id: id.clone(),
                name: name.into(),
                questionnaire_id: questionnaire_id.clone(),
                scope_unit_id: prefix.into(),
                open_time: Some(Timestamp {
                    seconds: open,
                    nanos: 0,
                }),
                close_time: Some(Timestamp {
                    seconds: close,
                    nanos: 0,
                }),
                compared_campaign_id: compared.into(),
                min_sample: 30,
                quality_rules: Some(pb::QualityRules {
                    max_upload_delay_hours: late_hours,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        };
        patiently(|| {
            let (mut catalog, request) = (catalog.clone(), request.clone());
            async move { catalog.create_campaign(request).await }
        })
        .await
        .map_err(|s| remote_error(&s))?;
    }
    eprintln!(
        "catalog: 1 city, {} townships and sub-districts, {} villages and communities, {} departments; campaigns {round1}, {round2}",
        townships.len(),
        townships.iter().map(|t| t.villages.len()).sum::<usize>(),
        departments.len()
    );

    let mut submissions = 0;
    let mut attempts = 0;
    // Round 2's interviews ended in the last 60 hours: none is uploaded late by the default
    // 72-hour rule.
    for round in [
        Round {
            number: 1,
            campaign_id: &round1,
            from: open1 + 2 * 3_600,
            to: close1 - 2 * 3_600,
            opens: open1,
            size,
        },
        Round {
            number: 2,
            campaign_id: &round2,
            from: now - 60 * 3_600,
            to: now - 15 * 60,
            opens: open2,
            size,
        },
    ] {
        let work = fieldwork(&round, &townships, &departments, seed, rng);
        let counts = (work.submissions.len(), work.attempts.len());
        let flagged = upload(connection, work.submissions).await?;
        log_attempts(connection, work.attempts).await?;
        let reviewed = review(connection, round.campaign_id, flagged).await?;
        let grievances =
            follow_up_grievances(connection, round.campaign_id, round.number, rng).await?;
        eprintln!(
            "{}: {} interviews ({reviewed} flagged and reviewed), {} call attempts, {grievances} grievances",
            round.campaign_id, counts.0, counts.1
        );
        submissions += counts.0;
        attempts += counts.1;
    }
    Ok(Created {
        city: prefix.into(),
        round1,
        round2,
        submissions,
        attempts,
    })
}

fn fieldwork(
    round: &Round<'_>,
    townships: &[Placed],
    departments: &[(String, &'static str, f64, f64)],
    seed: u64,
    rng: &mut StdRng,
) -> Fieldwork {
    let mut work = Fieldwork::default();
    for placed in townships {
        let slug = placed.township.slug;
        let twin =
            round.number == 2 && [city::ROUND2_TWINS.0, city::ROUND2_TWINS.1].contains(&slug);
        let key = if twin { city::ROUND2_TWINS.0 } else { slug };
        let mut answer_rng =
            StdRng::seed_from_u64(seed ^ (u64::from(round.number) << 32) ^ fnv(key));
        round.township(placed, &mut answer_rng, twin, rng, &mut work);
    }
    for (id, slug, level1, level2) in departments {
        let level = if round.number == 1 { *level1 } else { *level2 };
        let short = round.number == 2 && *slug == city::ROUND2_SHORT_DEPARTMENT;
        round.department(id, level, short, rng, &mut work);
    }
    work
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    })
}

type Departments = Vec<(String, &'static str, f64, f64)>;

async fn create_units(
    connection: &Connection,
    prefix: &str,
    size: Size,
    rng: &mut StdRng,
) -> Result<(Vec<Placed>, Departments)> {
    let unit = |id: &str, name: &str, kind: pb::UnitKind, parent: &str| pb::Unit {
        id: id.into(),
        name: name.into(),
        kind: kind.into(),
        parent_id: parent.into(),
        ..Default::default()
    };
    let mut city = unit(prefix, "示范市", pb::UnitKind::City, "");
    city.area = Some(pb::GeoArea {
        latitude: CENTRE.0,
        longitude: CENTRE.1,
        radius_meters: 60_000.0,
    });
    create_all(connection, vec![city]).await?;

    let townships: Vec<Placed> = TOWNSHIPS
        .iter()
        .map(|township| {
            let id = format!("{prefix}-{}", township.slug);
            let villages = city::villages(township, size.villages_per_township, rng)
                .into_iter()
                .map(|v| (format!("{id}-{}", v.slug), v))
                .collect();
            Placed {
                township,
                id,
                villages,
            }
        })
        .collect();
    let departments: Departments = DEPARTMENTS
        .iter()
        .map(|&(slug, _, l1, l2)| (format!("{prefix}-{slug}"), slug, l1, l2))
        .collect();
    let mut level = townships
        .iter()
        .map(|p| unit(&p.id, p.township.name, p.township.kind, prefix))
        .collect::<Vec<_>>();
    level.extend(
        DEPARTMENTS
            .iter()
            .zip(&departments)
            .map(|(d, (id, ..))| unit(id, d.1, pb::UnitKind::Department, prefix)),
    );
    create_all(connection, level).await?;
    let villages = townships
        .iter()
        .flat_map(|p| {
            p.villages
                .iter()
                .map(|(id, v)| unit(id, &v.name, v.kind, &p.id))
        })
        .collect();
    create_all(connection, villages).await?;
    Ok((townships, departments))
}

async fn create_all(connection: &Connection, units: Vec<pb::Unit>) -> Result<()> {
    let catalog = CatalogServiceClient::new(connection.clone());
    call_each(units, |unit| {
        let mut catalog = catalog.clone();
        async move {
            catalog
                .create_unit(pb::CreateUnitRequest { unit: Some(unit) })
                .await
        }
    })
    .await
}

/// Makes one unary call per item, [`CONCURRENCY`] at a time, each paced by the server's rate
/// limit ([`patiently`]).
async fn call_each<T, R, F, Fut>(items: Vec<T>, call: F) -> Result<()>
where
    T: Clone,
    F: Fn(T) -> Fut,
    Fut: Future<Output = std::result::Result<R, tonic::Status>>,
{
    futures::stream::iter(items)
        .map(|item| {
            let call = &call;
            async move {
                patiently(|| call(item.clone()))
                    .await
                    .map_err(|s| remote_error(&s))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// Uploads over a few concurrent streams; returns the ids of the submissions flagged for review.
async fn upload(
    connection: &Connection,
    items: Vec<pb::UploadSubmissionsRequest>,
) -> Result<Vec<String>> {
    let chunk = items.len().div_ceil(STREAMS).max(1);
    let mut queues = Vec::new();
    let mut items = items.into_iter();
    loop {
        let queue: Vec<_> = items.by_ref().take(chunk).collect();
        if queue.is_empty() {
            break;
        }
        queues.push(queue);
    }
    let uploads = queues.into_iter().map(|queue| {
        let client = SubmissionServiceClient::new(connection.clone());
        async move {
            let expected = queue.len();
            let mut results = patiently(|| {
                let (mut client, queue) = (client.clone(), queue.clone());
                async move {
                    client
                        .upload_submissions(futures::stream::iter(queue))
                        .await
                }
            })
            .await
            .map_err(|s| remote_error(&s))?
            .into_inner();
            let mut flagged = Vec::new();
            let mut answered = 0;
            while let Some(item) = results.message().await.map_err(|s| remote_error(&s))? {
                answered += 1;
                match item.result {
                    Some(ItemResult::Acknowledgement(ack))
                        if ack.review_state == pb::ReviewState::Flagged as i32 =>
                    {
                        flagged.push(ack.submission_id);
                    }
                    Some(ItemResult::Acknowledgement(_)) => {}
                    Some(ItemResult::Error(error)) => {
                        return Err(Error::internal(format!(
                            "upload item {} refused: code {}: {}",
                            item.index, error.code, error.message
                        )));
                    }
                    None => return Err(Error::internal("upload result without an outcome")),
                }
            }
            if answered < expected {
                return Err(Error::Unavailable(format!(
                    "the upload ended after {answered} of {expected} items"
                )));
            }
            Ok::<_, Error>(flagged)
        }
    });
    let flagged = futures::future::try_join_all(uploads).await?;
    Ok(flagged.into_iter().flatten().collect())
}

async fn log_attempts(
    connection: &Connection,
    attempts: Vec<pb::LogCallAttemptRequest>,
) -> Result<()> {
    let calls = CallCenterServiceClient::new(connection.clone());
    call_each(attempts, |attempt| {
        let mut calls = calls.clone();
        async move { calls.log_call_attempt(attempt).await }
    })
    .await
}

/// A supervisor listens to the recordings of the interviews flagged as too fast: most were
/// cut short and are rejected, the rest approved.
async fn review(connection: &Connection, campaign_id: &str, flagged: Vec<String>) -> Result<usize> {
    let count = flagged.len();
    let review = ReviewServiceClient::new(connection.clone());
    call_each(
        flagged.into_iter().enumerate().collect(),
        |(i, submission_id)| {
            let mut review = review.clone();
            let (decision, reason) = if i % 5 < 3 {
                (pb::ReviewDecision::Reject, "录音核查: 访问未完成")
            } else {
                (
                    pb::ReviewDecision::Approve,
                    "录音核查: 受访者回答简短, 访问有效",
                )
            };
            async move {
                review
                    .review_submission(pb::ReviewSubmissionRequest {
                        campaign_id: campaign_id.into(),
                        submission_id,
                        decision: decision.into(),
                        reason: reason.into(),
                    })
                    .await
            }
        },
    )
    .await?;
    Ok(count)
}

/// Round 1's grievances are mostly resolved by now; round 2's are being worked on.
async fn follow_up_grievances(
    connection: &Connection,
    campaign_id: &str,
    round: u32,
    rng: &mut StdRng,
) -> Result<usize> {
    let review = ReviewServiceClient::new(connection.clone());
    let mut grievances = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListGrievancesRequest {
            campaign_id: campaign_id.into(),
            page_size: 1000,
            page_token,
            ..Default::default()
        };
        let page = patiently(|| {
            let (mut review, request) = (review.clone(), request.clone());
            async move { review.list_grievances(request).await }
        })
        .await
        .map_err(|s| remote_error(&s))?
        .into_inner();
        grievances.extend(page.grievances);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let count = grievances.len();
    let updates: Vec<_> = grievances
        .into_iter()
        .filter_map(|g| {
            let pick: f64 = rng.random();
            let status = match (round, pick) {
                (1, p) if p < 0.75 => pb::GrievanceStatus::Resolved,
                (1, _) => pb::GrievanceStatus::InProgress,
                (_, p) if p < 0.2 => pb::GrievanceStatus::Resolved,
                (_, p) if p < 0.5 => pb::GrievanceStatus::InProgress,
                _ => return None,
            };
            Some(pb::UpdateGrievanceRequest {
                campaign_id: campaign_id.into(),
                grievance_id: g.id,
                status: status.into(),
            })
        })
        .collect();
    call_each(updates, |update| {
        let mut review = review.clone();
        async move { review.update_grievance(update).await }
    })
    .await?;
    Ok(count)
}
