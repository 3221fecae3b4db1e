//! What the server wrote, read back with the tests' own SQL on a connection of their own, so
//! the checks do not lean on the store they check. The storage codes are spelled out here too.

use std::collections::BTreeMap;

use canvass::domain::channel::{Carrier, Channel};
use canvass::domain::ids::UnitId;
use canvass::domain::review::ReviewState;
use sqlx::Connection;
use sqlx::types::Json;
use uuid::Uuid;

use super::harness::TestApp;

/// A row of `submissions`, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSubmission {
    pub submission_id: Uuid,
    pub unit_id: UnitId,
    pub channel: Channel,
    /// Phone polls only.
    pub carrier: Option<Carrier>,
    /// Indicator code -> option code.
    pub answers: BTreeMap<String, String>,
    /// Only received and approved rows count in the aggregates.
    pub review_state: ReviewState,
}

/// The columns as stored: id, unit, channel, carrier (0 for none), answers, review state.
type Row = (Uuid, String, i16, i16, Json<BTreeMap<String, String>>, i16);

/// Runs `$body` on a connection of the test's own to the database `$url` names, whichever
/// store it is: the body is written once and compiled for each. Statements use `$1`
/// placeholders, which SQLite accepts too.
macro_rules! on_database {
    ($url:expr, |$conn:ident| $body:expr) => {{
        let url: &str = $url;
        if url.starts_with("sqlite:") {
            let mut connection = sqlx::SqliteConnection::connect(url)
                .await
                .expect("the test opens the SQLite database");
            let $conn = &mut connection;
            let value = $body;
            connection.close().await.ok();
            value
        } else {
            let mut connection = sqlx::PgConnection::connect(url)
                .await
                .expect("the test connects to PostgreSQL");
            let $conn = &mut connection;
            let value = $body;
            connection.close().await.ok();
            value
        }
    }};
}

/// The submissions of `campaign` in `app`'s database, in the order they were committed.
pub async fn stored_submissions(app: &TestApp, campaign: &str) -> Vec<StoredSubmission> {
    stored_submissions_at(&app.database_url, campaign).await
}

/// [`stored_submissions`] of the database at `database_url`, for tests without a [`TestApp`].
pub async fn stored_submissions_at(database_url: &str, campaign: &str) -> Vec<StoredSubmission> {
    let rows: Vec<Row> = on_database!(database_url, |conn| {
        sqlx::query_as(
            "SELECT submission_id, unit_id, channel, carrier, answers, review_state \
             FROM submissions WHERE campaign_id = $1 ORDER BY seq",
        )
        .bind(campaign)
        .fetch_all(&mut *conn)
        .await
        .expect("stored submissions read")
    });
    rows.into_iter().map(decode).collect()
}

fn decode(
    (submission_id, unit_id, channel, carrier, Json(answers), review_state): Row,
) -> StoredSubmission {
    StoredSubmission {
        submission_id,
        unit_id: UnitId::parse(&unit_id)
            .unwrap_or_else(|e| panic!("stored unit id {unit_id:?}: {e}")),
        channel: match channel {
            1 => Channel::Visit,
            2 => Channel::Phone,
            other => panic!("stored channel {other}"),
        },
        carrier: match carrier {
            0 => None,
            1 => Some(Carrier::ChinaMobile),
            2 => Some(Carrier::ChinaTelecom),
            3 => Some(Carrier::ChinaUnicom),
            4 => Some(Carrier::ChinaBroadnet),
            5 => Some(Carrier::Other),
            other => panic!("stored carrier {other}"),
        },
        answers,
        review_state: match review_state {
            1 => ReviewState::Received,
            2 => ReviewState::Flagged,
            3 => ReviewState::Approved,
            4 => ReviewState::Rejected,
            other => panic!("stored review state {other}"),
        },
    }
}

/// The stored number of each unit's kind, by unit id.
pub async fn stored_unit_kinds(app: &TestApp) -> BTreeMap<String, i16> {
    let rows: Vec<(String, i16)> = on_database!(&app.database_url, |conn| {
        sqlx::query_as("SELECT id, kind FROM units")
            .fetch_all(&mut *conn)
            .await
            .expect("stored units read")
    });
    rows.into_iter().collect()
}

/// Sets a submission's stored review state and nothing else, as a server older than the call
/// cases' review rule left a rejection: its aggregate and call case untouched.
pub async fn set_review_state_alone(app: &TestApp, submission_id: Uuid, state: i16) {
    let updated = on_database!(&app.database_url, |conn| {
        sqlx::query("UPDATE submissions SET review_state = $1 WHERE submission_id = $2")
            .bind(state)
            .bind(submission_id)
            .execute(&mut *conn)
            .await
            .expect("review state set")
            .rows_affected()
    });
    assert_eq!(updated, 1);
}

/// An audit entry for store calls made directly by a test.
pub fn test_audit_entry(
    target_kind: &'static str,
    target_id: &str,
) -> canvass::domain::audit::AuditEntry {
    canvass::domain::audit::AuditEntry {
        actor: "test".into(),
        actor_role: "admin".into(),
        at: canvass::domain::time::Timestamp::now(),
        action: "test",
        target_kind,
        target_id: target_id.into(),
        before: Default::default(),
        after: Default::default(),
    }
}
