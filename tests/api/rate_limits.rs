//! Call-rate limits: per subject after authentication, per peer address for the token checks
//! it prompts before, answered RESOURCE_EXHAUSTED with a google.rpc RetryInfo; and defaults a
//! phone's burst upload never reaches.
//!
//! SQLite only: limits are decided in the auth layer, before any store is reached.

use std::time::Duration;

use canvass::auth::{RateLimit, Role};
use canvass::configuration::ServeArgs;
use canvass::proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

/// GetUnit of a unit that does not exist: NOT_FOUND shows the call got past authentication.
async fn call(app: &TestApp, token: &str) -> tonic::Status {
    app.catalog_as(Some(token))
        .get_unit(pb::GetUnitRequest {
            id: "nowhere".into(),
        })
        .await
        .expect_err("no such unit")
}

/// Calls until one is refused RESOURCE_EXHAUSTED (at most `most`); the calls served first.
async fn calls_until_exhausted(app: &TestApp, token: &str, most: usize) -> (usize, tonic::Status) {
    for served in 0..most {
        let status = call(app, token).await;
        if status.code() == Code::ResourceExhausted {
            return (served, status);
        }
    }
    panic!("{most} calls were never limited");
}

fn retry_delay(status: &tonic::Status) -> Duration {
    status
        .get_details_retry_info()
        .expect("RESOURCE_EXHAUSTED carries a RetryInfo")
        .retry_delay
        .expect("with a delay")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_over_its_limit_waits_while_other_subjects_are_served() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.identity.rate_limit_per_subject = RateLimit::new(1, 5);
    })
    .await
    .expect("SQLite");
    let busy = app.token(Role::Analyst, &[]);
    // The burst is served; with one more call a second, a loaded machine may add a few.
    let (served, status) = calls_until_exhausted(&app, &busy, 50).await;
    assert!((5..20).contains(&served), "{served} calls served");
    assert!(
        status.message().contains("too many calls of this subject"),
        "{status:?}"
    );
    let delay = retry_delay(&status);
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_millis(1001),
        "{delay:?}"
    );

    // Another subject is served meanwhile.
    let other = app
        .issuer
        .mint("analyst-2", Role::Analyst, &[], Duration::from_secs(600))
        .unwrap();
    assert_eq!(call(&app, &other).await.code(), Code::NotFound);
    // And the busy one again once it has waited as told.
    tokio::time::sleep(delay).await;
    assert_eq!(call(&app, &busy).await.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_from_one_address_are_limited_before_they_are_checked() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.identity.rate_limit_per_peer = RateLimit::new(1, 5);
    })
    .await
    .expect("SQLite");
    // Verified once (one check of this address's budget), then served from the cache.
    let good = app.token(Role::Analyst, &[]);
    assert_eq!(call(&app, &good).await.code(), Code::NotFound);

    let mut refused = 0;
    let mut limited = None;
    for i in 0..50 {
        let garbage = format!("eyJhbGciOiJFZERTQSJ9.garbage-{i}.sig");
        let status = call(&app, &garbage).await;
        match status.code() {
            Code::Unauthenticated => refused += 1,
            Code::ResourceExhausted => {
                limited = Some(status);
                break;
            }
            other => panic!("{other:?}: {status:?}"),
        }
    }
    let limited = limited.expect("garbage tokens were never limited");
    assert!(
        (4..20).contains(&refused),
        "{refused} garbage tokens checked"
    );
    assert!(
        limited.message().contains("token checks from this address"),
        "{limited:?}"
    );
    assert!(retry_delay(&limited) > Duration::ZERO);
    // A token already verified is not held back by the address's bad ones.
    assert_eq!(call(&app, &good).await.code(), Code::NotFound);
}

/// A phone that was offline all day uploads its visits one unary call after another, as fast
/// as the server answers: the default limits let every one through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_limits_pass_an_offline_phones_burst() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        let defaults = ServeArgs::for_data_dir(s.common.data_dir.as_path(), s.listen).identity;
        s.identity.rate_limit_per_subject = defaults.rate_limit_per_subject;
        s.identity.rate_limit_per_peer = defaults.rate_limit_per_peer;
    })
    .await
    .expect("SQLite");
    app.seed().await;
    let mut phone = app.field_worker(&["city"]);
    let visits = 300;
    for _ in 0..visits {
        phone
            .submit_visit(visit("c1", "jinshi-v1", vec![answer("security", "a")]))
            .await
            .expect("not limited");
    }
    assert_eq!(app.stored_count("c1").await, visits);
}
