//! Throwaway databases on a PostgreSQL server, for benchmark runs that must not touch a
//! database anyone keeps.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::error::{Error, Result};

/// A fresh PostgreSQL database for one run, created on the server `server_url` names and
/// dropped by [`ScratchDatabase::drop_database`].
pub struct ScratchDatabase {
    server_url: String,
    name: String,
    pub url: String,
}

impl ScratchDatabase {
    pub async fn create(server_url: &str) -> Result<Self> {
        if !is_postgres_url(server_url) {
            return Err(Error::invalid(
                "--database-url",
                format!(
                    "expected postgres://…, got {}",
                    super::redact_url(server_url)
                ),
            ));
        }
        let name = format!("canvass_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(server_url).await?;
        // The name is generated above, so the statement is safe to assemble.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE template0"
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Ok(Self {
            url: with_database(server_url, &name),
            server_url: server_url.to_owned(),
            name,
        })
    }

    pub async fn drop_database(self) -> Result<()> {
        let mut conn = PgConnection::connect(&self.server_url).await?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Ok(())
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    if query.is_empty() {
        format!("{base}/{name}")
    } else {
        format!("{base}/{name}?{query}")
    }
}

/// Whether `url` names a PostgreSQL server.
fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5433/postgres", "b1"),
            "postgres://u:p@127.0.0.1:5433/b1"
        );
        assert_eq!(
            with_database("postgres://u@h:1?sslmode=disable", "b1"),
            "postgres://u@h:1/b1?sslmode=disable"
        );
    }
}
