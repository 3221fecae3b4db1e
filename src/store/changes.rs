//! Announcements of changed campaigns between server processes sharing one PostgreSQL
//! database (LISTEN/NOTIFY). A SQLite file has one server, so there is nobody to tell.

use sqlx::postgres::{PgListener, PgPoolOptions};

use super::Store;
use crate::error::Result;

/// The channel on which server processes sharing a database announce changed campaigns.
const CHANGES_CHANNEL: &str = "canvass_changes";
/// How the change listener's connection is named in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "canvass-change-listener";

/// Announces `payloads` to every listening process. Each is delivered as sent; an
/// announcement made while nobody listens is simply dropped.
pub async fn announce(store: &Store, payloads: &[String]) -> Result<()> {
    if let Store::Postgres(db) = store {
        sqlx::query("SELECT pg_notify($1, payload) FROM UNNEST($2::text[]) AS payload")
            .bind(CHANGES_CHANNEL)
            .bind(payloads)
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}

/// Hears other processes' announcements, on a connection of its own (not taken from the
/// pool, and named [`LISTENER_APPLICATION_NAME`] in `pg_stat_activity`).
pub struct ChangeListener(PgListener);

impl ChangeListener {
    /// The next announcement's payload; `None` when the connection dropped and the listener
    /// has reconnected by itself, so that what was announced meanwhile went unheard.
    ///
    /// # Errors
    /// The listener could not reconnect.
    pub async fn next(&mut self) -> Result<Option<String>> {
        Ok(self
            .0
            .try_recv()
            .await?
            .map(|notification| notification.payload().to_owned()))
    }
}

/// A listener subscribed to [`announce`]'s channel; `None` on a store nobody else shares.
pub async fn listener(store: &Store) -> Result<Option<ChangeListener>> {
    let Store::Postgres(db) = store else {
        return Ok(None);
    };
    let own = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(db.pool.options().get_acquire_timeout())
        .connect_with(
            (*db.pool.connect_options())
                .clone()
                .application_name(LISTENER_APPLICATION_NAME),
        )
        .await?;
    let mut listener = PgListener::connect_with(&own).await?;
    listener.listen(CHANGES_CHANNEL).await?;
    Ok(Some(ChangeListener(listener)))
}
