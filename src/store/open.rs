//! Opening a store: the backend a URL names, its connection pools as the metrics see them,
//! and migrations. Each backend's own settings are in `sqlite.rs` and `postgres.rs`.

use std::time::Duration;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::{Store, migrate};
use crate::error::{Error, Result};

/// Connection settings shared by the backends.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// One connection pool's use at a moment.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub name: &'static str,
    pub size: u32,
    pub idle: usize,
    pub max: u32,
}

impl Store {
    /// Opens the database `options.url` names (SQLite for `sqlite:`, PostgreSQL for
    /// `postgres://` or `postgresql://`) and applies pending migrations.
    pub async fn open(options: &StoreOptions) -> Result<Self> {
        let url = options.url.as_str();
        let store = if url.starts_with("sqlite:") {
            Self::Sqlite(SqliteStore::connect(options).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres(PgStore::connect(options).await?)
        } else {
            return Err(Error::internal(format!(
                "unsupported DATABASE_URL scheme in {:?}",
                redact_url(&options.url)
            )));
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The database product, for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "SQLite",
            Self::Postgres(_) => "PostgreSQL",
        }
    }

    /// The database product a `DATABASE_URL` names, for reports.
    pub fn name_of(url: &str) -> &'static str {
        if url.starts_with("sqlite:") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    }

    /// Each connection pool's use, for the metrics. SQLite's writer connection is held, not
    /// pooled, and is not among them.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        fn of<DB: sqlx::Database>(name: &'static str, pool: &sqlx::Pool<DB>) -> PoolStats {
            PoolStats {
                name,
                size: pool.size(),
                idle: pool.num_idle(),
                max: pool.options().get_max_connections(),
            }
        }
        match self {
            Self::Sqlite(sqlite) => vec![of("sqlite_readers", &sqlite.readers)],
            Self::Postgres(pg) => vec![of("postgres", &pg.pool)],
        }
    }

    /// How many submission batches may usefully commit at once: SQLite has one writer
    /// connection; PostgreSQL all but one of the pool's connections, which stays for reads.
    pub fn max_concurrent_commits(&self) -> usize {
        match self {
            Self::Sqlite(_) => 1,
            Self::Postgres(pg) => pg.pool_size().saturating_sub(1).max(1),
        }
    }

    /// Applies pending migrations and completes what older servers left uncounted.
    pub async fn migrate(&self) -> Result<()> {
        migrate::run(self).await
    }

    /// Whether other server processes may share this database, and so need to hear of its
    /// changes (PostgreSQL); a SQLite file has one server.
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

/// The URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("postgres://canvass:s3cret@db:5432/canvass"),
            "postgres://canvass:***@db:5432/canvass"
        );
        assert_eq!(
            redact_url("sqlite://data/canvass.db"),
            "sqlite://data/canvass.db"
        );
    }
}
