//! A PostgreSQL outage under load: while the database is down every call fails fast with
//! UNAVAILABLE (never a deadline or cancellation), the server stays up, it serves again as soon
//! as the database is back, without a restart, and nothing acknowledged is lost or doubled.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use canvass::proto::v1 as pb;
use tokio::sync::{mpsc, watch};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::*;
use crate::pg_cluster;

/// Client tasks submitting continuously.
const LOAD_CLIENTS: usize = 4;
/// The deadline every call carries.
const CALL_DEADLINE: Duration = Duration::from_secs(3);
/// Acknowledgements to see before the outage, and again after it.
const ACKS_PER_PHASE: usize = 100;
/// Calls that must fail during the outage before the database comes back.
const FAILURES_DURING_OUTAGE: usize = 5 * LOAD_CLIENTS;
/// Bound of every wait for the load to make progress.
const PHASE_TIMEOUT: Duration = Duration::from_secs(60);

/// One call of a load client.
#[derive(Debug)]
struct Sent {
    request: pb::SubmitVisitRequest,
    started: Instant,
    elapsed: Duration,
    result: Result<pb::Acknowledgement, Code>,
}

fn full_answers(n: usize) -> Vec<pb::Answer> {
    let security = ["a", "b", "c", "d", "e", "dk"];
    let police = ["a", "b", "c", "d", "e", "refused"];
    vec![
        answer("security", security[n % security.len()]),
        answer("police", police[n / 7 % police.len()]),
        answer("visits", ["a", "b"][n % 2]),
    ]
}

/// Submits visits one after another until told to stop, reporting every call.
async fn load(
    mut worker: SubmissionClient,
    client: usize,
    report: mpsc::UnboundedSender<Sent>,
    mut stop: watch::Receiver<bool>,
) {
    let units = ["jinshi-v1", "jinshi-v2", "dongshan-c1", "xinfang"];
    for n in 0.. {
        if *stop.borrow_and_update() {
            return;
        }
        let request = visit("c1", units[(client + n) % units.len()], full_answers(n));
        let mut call = tonic::Request::new(request.clone());
        call.set_timeout(CALL_DEADLINE);
        let started = Instant::now();
        // The client-side bound only guards against a server that ignores the deadline.
        let result = match tokio::time::timeout(CALL_DEADLINE * 2, worker.submit_visit(call)).await
        {
            Ok(Ok(response)) => Ok(response
                .into_inner()
                .acknowledgement
                .expect("a success carries an acknowledgement")),
            Ok(Err(status)) => Err(status.code()),
            Err(_) => Err(Code::DeadlineExceeded),
        };
        let failed = result.is_err();
        let sent = Sent {
            request,
            started,
            elapsed: started.elapsed(),
            result,
        };
        if report.send(sent).is_err() {
            return;
        }
        if failed {
            // A well-behaved client backs off before retrying; this also keeps the failing
            // calls from spinning the CPU while the database is down.
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

type SubmissionClient =
    canvass::proto::v1::submission_service_client::SubmissionServiceClient<Authed>;

/// Receives load reports into `log` until `done` holds, failing the test after `PHASE_TIMEOUT`.
async fn collect_until(
    reports: &mut mpsc::UnboundedReceiver<Sent>,
    log: &mut Vec<Sent>,
    what: &str,
    mut done: impl FnMut(&[Sent]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + PHASE_TIMEOUT;
    while !done(log) {
        match tokio::time::timeout_at(deadline, reports.recv()).await {
            Ok(Some(sent)) => log.push(sent),
            Ok(None) => panic!("the load clients stopped while waiting for {what}"),
            Err(_) => panic!("no {what} within {PHASE_TIMEOUT:?}"),
        }
    }
}

/// GetUnitScore with the call deadline.
async fn score_call(app: &TestApp) -> Result<pb::UnitScore, tonic::Status> {
    let mut request = tonic::Request::new(pb::GetUnitScoreRequest {
        campaign_id: "c1".into(),
        unit_id: "city".into(),
    });
    request.set_timeout(CALL_DEADLINE);
    app.analyst()
        .get_unit_score(request)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_fails_fast_and_service_resumes_without_losing_acknowledgements() {
    let Some(mut cluster) = pg_cluster::owned_cluster().await else {
        return;
    };
    let url = cluster.fresh_database_url().await;
    // The server's defaults are under test. While the database is down a call waits up to the
    // acquire timeout for a connection, twice when it queued behind a batch that was already
    // waiting; both must fit in the caller's deadline.
    let mut pool_size = 0;
    let mut app = TestApp::spawn_with_database_url(url, |settings| {
        pool_size = settings.db_max_connections;
        let acquire = Duration::from_secs(settings.db_acquire_timeout_seconds);
        assert!(
            2 * acquire < CALL_DEADLINE,
            "acquire timeout {acquire:?} too long to fail fast"
        );
    })
    .await;
    app.seed().await;

    let (report, mut reports) = mpsc::unbounded_channel();
    let (stop, stopped) = watch::channel(false);
    let clients: Vec<_> = (0..LOAD_CLIENTS)
        .map(|client| {
            tokio::spawn(load(
                app.field_worker(&["city"]),
                client,
                report.clone(),
                stopped.clone(),
            ))
        })
        .collect();
    drop(report);
    let mut log = Vec::new();
    let acked = |log: &[Sent], since: Instant| {
        log.iter()
            .filter(|s| s.started >= since && s.result.is_ok())
            .count()
    };

    // Healthy: the load is being acknowledged.
    let began = Instant::now();
    collect_until(
        &mut reports,
        &mut log,
        "acknowledgements before the outage",
        |log| acked(log, began) >= ACKS_PER_PHASE,
    )
    .await;

    // Down: calls that start now fail promptly with UNAVAILABLE, reads too; the server lives.
    cluster.stop().await;
    let down = Instant::now();
    collect_until(
        &mut reports,
        &mut log,
        "failed calls during the outage",
        |log| log.iter().filter(|s| s.started >= down).count() >= FAILURES_DURING_OUTAGE,
    )
    .await;
    let read_started = Instant::now();
    let status = score_call(&app)
        .await
        .expect_err("no scores without the database");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let read_elapsed = read_started.elapsed();
    let health = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("the server answers health checks during the outage")
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);
    assert!(app.is_running(), "the server task ended during the outage");

    // Back: the same server serves again within a bounded retry loop.
    let restarting = Instant::now();
    cluster.start().await;
    let up = Instant::now();
    let recovery_deadline = up + PHASE_TIMEOUT;
    let mut worker = app.field_worker(&["city"]);
    let mut probe = 0;
    let first_ack = loop {
        let mut call = tonic::Request::new(visit("c1", "jinshi-v1", full_answers(probe)));
        call.set_timeout(CALL_DEADLINE);
        match worker.submit_visit(call).await {
            Ok(_) => break up.elapsed(),
            Err(status)
                if status.code() == Code::Unavailable && Instant::now() < recovery_deadline =>
            {
                probe += 1
            }
            Err(status) => {
                panic!("the server did not recover within {PHASE_TIMEOUT:?}: {status:?}")
            }
        }
    };
    collect_until(
        &mut reports,
        &mut log,
        "acknowledgements after the outage",
        |log| acked(log, up) >= ACKS_PER_PHASE,
    )
    .await;
    // Connections that died with the database are dropped as they fail, one call each at most;
    // then reads succeed every time.
    let mut in_a_row = 0;
    while in_a_row < 2 * pool_size {
        match score_call(&app).await {
            Ok(_) => in_a_row += 1,
            Err(status)
                if status.code() == Code::Unavailable && Instant::now() < recovery_deadline =>
            {
                in_a_row = 0
            }
            Err(status) => panic!("reads did not recover within {PHASE_TIMEOUT:?}: {status:?}"),
        }
    }
    stop.send_replace(true);
    for client in clients {
        client.await.expect("load client");
    }
    while let Some(sent) = reports.recv().await {
        log.push(sent);
    }

    // Every call got an acknowledgement or UNAVAILABLE, within its deadline.
    let unexpected: Vec<_> = log
        .iter()
        .filter(|s| !matches!(s.result, Ok(_) | Err(Code::Unavailable)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "calls answered neither OK nor UNAVAILABLE: {unexpected:#?}"
    );
    // A call that starts late in the outage may wait for a connection long enough to be
    // served by the restarted database; every call that ended before then failed.
    let during_outage: Vec<_> = log
        .iter()
        .filter(|s| s.started >= down && s.started + s.elapsed < restarting)
        .collect();
    assert!(
        during_outage
            .iter()
            .all(|s| s.result == Err(Code::Unavailable)),
        "a call was acknowledged while the database was down"
    );
    let slowest_failure = log
        .iter()
        .filter(|s| s.result.is_err())
        .map(|s| s.elapsed)
        .max()
        .unwrap_or_default();
    assert!(
        slowest_failure < CALL_DEADLINE,
        "a failure took {slowest_failure:?}"
    );
    eprintln!(
        "outage: {} calls, {} acknowledged, {} UNAVAILABLE during the outage (slowest failure {slowest_failure:?}, \
         read {read_elapsed:?}); first acknowledgement {first_ack:?} after the restart",
        log.len(),
        log.iter().filter(|s| s.result.is_ok()).count(),
        during_outage.len(),
    );

    // Every acknowledged submission is stored exactly once, as sent.
    let stored = stored_submissions(&app, "c1").await;
    let mut copies: HashMap<String, usize> = HashMap::new();
    for row in &stored {
        *copies.entry(row.submission_id.to_string()).or_default() += 1;
    }
    let by_id: HashMap<String, &StoredSubmission> = stored
        .iter()
        .map(|row| (row.submission_id.to_string(), row))
        .collect();
    for sent in log.iter().filter(|s| s.result.is_ok()) {
        let id = &sent.request.submission_id;
        assert_eq!(copies.get(id), Some(&1), "acknowledged submission {id}");
        let answers: BTreeMap<String, String> = sent
            .request
            .answers
            .iter()
            .map(|a| (a.indicator_code.clone(), a.option_code.clone()))
            .collect();
        assert_eq!(
            (by_id[id].unit_id.as_str(), &by_id[id].answers),
            (sent.request.unit_id.as_str(), &answers),
            "{id}"
        );
    }
    assert!(copies.values().all(|&n| n == 1));
    assert_scores_match_stored(&app, "c1").await;
    app.stop().await;
}
