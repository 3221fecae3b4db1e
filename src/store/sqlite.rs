//! Connecting to the embedded SQLite store: WAL with synchronous=FULL (an acknowledged commit
//! survives a power cut), one writer connection and a small pool of readers.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{Mutex, MutexGuard};

use super::StoreOptions;
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection, held rather than pooled: SQLite serialises writers anyway, one
    /// connection avoids SQLITE_BUSY between our own writers, and a pool hands it back through
    /// a spawned task after every transaction (under unary load a batch's BEGIN took 1.7 ms
    /// through the pool, 1.1 ms held).
    writer: Arc<Mutex<Writer>>,
    pub(super) readers: SqlitePool,
}

/// The writer connection, and whether an ingest batch may have been left open on it (its
/// future dropped between BEGIN and COMMIT, or its ROLLBACK failed).
#[derive(Debug)]
pub(super) struct Writer {
    pub(super) connection: SqliteConnection,
    pub(super) batch_open: bool,
}

impl SqliteStore {
    pub async fn connect(options: &StoreOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::from_str(&options.url)
            .map_err(|e| Error::internal(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.acquire_timeout);
        if let Some(dir) = connect.get_filename().parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        }
        // Checkpoint every ~12 MiB of WAL instead of SQLite's ~4 MiB: aggregate and index pages
        // that every batch rewrites reach the database once per checkpoint, not every few
        // batches. Measured under unary load: 1,000 pages ~8k/s; 3,000 ~8.4-8.9k/s, p99 47-54 ms
        // (under 50 in four runs of five); 10,000 ~9.1k/s but p99 52-57 ms (each checkpoint
        // stalls the writer longer).
        //
        // Statement journals stay in memory: a multi-row upsert inside a transaction keeps one
        // so it can undo itself, and SQLite's default spills it to a temporary file past
        // 64 KiB. Those writes took ~13% of the writer thread under unary load.
        let writer = SqliteConnection::connect_with(
            &connect
                .clone()
                .pragma("wal_autocheckpoint", "3000")
                .pragma("temp_store", "memory")
                // 16 MiB of page cache instead of 2: the aggregate rows and index leaves that
                // every batch touches stay cached. Paired unary runs: 12.9k and 13.7k/s against
                // 11.6k and 13.0k/s, for ~16 MiB more memory. (A memory-mapped file measured
                // faster still, but turns an I/O error into a crash and counts the whole
                // database file into the server's memory.)
                .pragma("cache_size", "-16384")
                // A batch's reads come back in one go (an aggregate row per unit it touches);
                // sqlx's default of 50 rows made SQLite's thread wait for the caller mid-query.
                .row_buffer_size(4096),
        )
        .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.read_only(true))
            .await?;
        Ok(Self {
            writer: Arc::new(Mutex::new(Writer {
                connection: writer,
                batch_open: false,
            })),
            readers,
        })
    }

    /// The writer connection, once the previous write has finished with it.
    pub(super) async fn writer(&self) -> MutexGuard<'_, Writer> {
        let mut writer = self.writer.lock().await;
        if writer.batch_open {
            // Fails harmlessly when SQLite had already rolled the batch back itself.
            let _ = sqlx::query("ROLLBACK")
                .execute(&mut writer.connection)
                .await;
            writer.batch_open = false;
        }
        writer
    }
}

/// A units filter as SQLite binds it: a JSON array for `json_each`, or NULL for none.
pub fn units_filter(units: Option<&[crate::domain::ids::UnitId]>) -> Option<String> {
    units.map(|units| {
        serde_json::to_string(&units.iter().map(|u| u.as_str()).collect::<Vec<_>>())
            .expect("unit ids always serialise")
    })
}
