//! The two macros every store module writes its statements with: a read from the pool of
//! readers and a write transaction, each compiled once per backend.

/// Runs `$body` for whichever backend `$store` holds, with `$db` that backend's pool of
/// readers and `$dialect` (when named) the backend's module beside the caller (`sqlite` or
/// `postgres`). The body is written once and compiled once per backend, so a statement that
/// reads the same in both dialects is written once.
macro_rules! read {
    ($store:expr, |$db:ident| $body:expr) => {
        read!($store, |$db, _unused| $body)
    };
    ($store:expr, |$db:ident, $dialect:tt| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(backend) => {
                dialect!($dialect, sqlite);
                let $db = &backend.readers;
                $body
            }
            $crate::store::Store::Postgres(backend) => {
                dialect!($dialect, postgres);
                let $db = &backend.pool;
                $body
            }
        }
    };
}

/// Runs `$body` in a write transaction of whichever backend `$store` holds, with `$tx` the
/// transaction's connection and `$dialect` as in [`read!`], and commits when the body
/// succeeds. An error returns early and rolls the transaction back.
macro_rules! transaction {
    ($store:expr, |$tx:ident| $body:expr) => {
        transaction!($store, |$tx, _unused| $body)
    };
    ($store:expr, |$tx:ident, $dialect:tt| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(backend) => {
                dialect!($dialect, sqlite);
                let mut writer = backend.writer().await;
                let mut open = sqlx::Connection::begin(&mut writer.connection).await?;
                let $tx: &mut sqlx::SqliteConnection = &mut open;
                let value = $body;
                open.commit().await?;
                value
            }
            $crate::store::Store::Postgres(backend) => {
                dialect!($dialect, postgres);
                let mut open = backend.pool.begin().await?;
                let $tx: &mut sqlx::PgConnection = &mut open;
                let value = $body;
                open.commit().await?;
                value
            }
        }
    };
}

/// Names the caller's dialect module `$name` (nothing when the caller has none).
macro_rules! dialect {
    (_unused, $module:ident) => {};
    ($name:ident, $module:ident) => {
        use $module as $name;
    };
}
