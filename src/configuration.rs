//! Typed settings from flags and `CANVASS_*` environment variables; secrets never print.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::auth::{IdentityArgs, KeyPaths};
use crate::domain::phone::PhoneHasher;
use crate::error::{Error, Result};
use crate::file_modes;
use crate::ingest::WriterConfig;
use crate::listener::{ListenerSettings, Timeouts};
use crate::store::{StoreOptions, redact_url};
use crate::tls::TlsFiles;

/// Settings every subcommand shares: where data and keys live, and who tokens are for.
#[derive(clap::Args, Clone)]
pub struct CommonArgs {
    /// Directory for the embedded database and generated keys.
    #[arg(long, env = "CANVASS_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// `sqlite://path` or `postgres://…`; defaults to SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Ed25519 public key (PEM) that verifies tokens [default: <data-dir>/jwt-ed25519.pub.pem].
    #[arg(long, env = "CANVASS_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// Ed25519 private key (PEM) that signs tokens [default: <data-dir>/jwt-ed25519.pem].
    #[arg(long, env = "CANVASS_JWT_PRIVATE_KEY")]
    pub jwt_private_key: Option<PathBuf>,
    /// Required `iss` of tokens.
    #[arg(long, env = "CANVASS_JWT_ISSUER", default_value = "canvass")]
    pub jwt_issuer: String,
    /// Required `aud` of tokens.
    #[arg(long, env = "CANVASS_JWT_AUDIENCE", default_value = "canvass")]
    pub jwt_audience: String,
}

impl CommonArgs {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("canvass.db").display()))
    }

    /// Makes the data directory (when it exists) and the SQLite database files owner-only,
    /// creating the database file with that mode; see [`file_modes`].
    ///
    /// # Errors
    /// When one of them is open to other users and cannot be tightened.
    pub fn protect_files(&self) -> Result<()> {
        file_modes::tighten(&self.data_dir)?;
        file_modes::protect_sqlite(&self.database_url())
    }

    pub fn key_paths(&self) -> KeyPaths {
        KeyPaths {
            private_key: self
                .jwt_private_key
                .clone()
                .unwrap_or_else(|| self.data_dir.join("jwt-ed25519.pem")),
            public_key: self
                .jwt_public_key
                .clone()
                .unwrap_or_else(|| self.data_dir.join("jwt-ed25519.pub.pem")),
        }
    }
}

impl fmt::Debug for CommonArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommonArgs")
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url()))
            .field("key_paths", &self.key_paths())
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .finish()
    }
}

/// Settings of the `serve` subcommand.
#[derive(clap::Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on.
    #[arg(long, env = "CANVASS_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Database connections (PostgreSQL pool size, plus one listening connection; SQLite
    /// readers, plus the writer).
    #[arg(long, env = "CANVASS_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub db_max_connections: u32,
    /// Seconds to wait for a database connection before answering UNAVAILABLE. While the
    /// database is down, calls wait this long (the pool keeps retrying refused connections until
    /// then), so it must stay well below clients' deadlines.
    #[arg(long, env = "CANVASS_DB_ACQUIRE_TIMEOUT_SECONDS", default_value_t = 1)]
    pub db_acquire_timeout_seconds: u64,
    /// Secret for hashing phone numbers; overrides the key file.
    #[arg(long, env = "CANVASS_PHONE_HASH_KEY", hide_env_values = true)]
    pub phone_hash_key: Option<String>,
    /// File holding the phone-hash secret, created on first run [default: <data-dir>/phone-hash.key].
    #[arg(long, env = "CANVASS_PHONE_HASH_KEY_FILE")]
    pub phone_hash_key_file: Option<PathBuf>,
    /// Most submissions committed in one transaction.
    #[arg(long, env = "CANVASS_INGEST_MAX_BATCH", default_value_t = 1024)]
    pub ingest_max_batch: usize,
    /// Microseconds the writer waits for more submissions before committing (0 = none).
    #[arg(long, env = "CANVASS_INGEST_LINGER_MICROS", default_value_t = 0)]
    pub ingest_linger_micros: u64,
    /// Submission batches committing at once on PostgreSQL (SQLite commits one at a time).
    #[arg(long, env = "CANVASS_INGEST_CONCURRENT_COMMITS", default_value_t = 2)]
    pub ingest_concurrent_commits: usize,
    /// Items of one UploadSubmissions stream being processed at once; the server reads no
    /// further items from that stream until one is answered.
    #[arg(long, env = "CANVASS_UPLOAD_MAX_IN_FLIGHT", default_value_t = 64)]
    pub upload_max_in_flight: usize,
    /// Campaigns whose aggregates are kept in memory for score reads; the least recently read
    /// beyond this are dropped and read from the database again when next asked for. Each
    /// takes roughly its aggregate rows' size (about 1 KiB per unit, channel and carrier).
    #[arg(long, env = "CANVASS_SCORE_CACHE_CAMPAIGNS", default_value_t = 8)]
    pub score_cache_campaigns: usize,
    /// Verified tokens kept in memory until they expire (0 = verify every call).
    #[arg(long, env = "CANVASS_TOKEN_CACHE_CAPACITY", default_value_t = 10_000)]
    pub token_cache_capacity: usize,
    /// Seconds a stopping server takes at most. In-flight calls get all but the last quarter
    /// (at most a second) to finish; then connections still open are closed and the writer
    /// commits what it holds.
    #[arg(long, env = "CANVASS_SHUTDOWN_GRACE_SECONDS", default_value_t = 10)]
    pub shutdown_grace_seconds: u64,
    #[command(flatten)]
    pub exposure: ExposureArgs,
    /// Token keys, claims, revocations and call-rate limits.
    #[command(flatten)]
    pub identity: IdentityArgs,
}

/// How the server meets its clients and operators: connection limits, TLS, metrics.
#[derive(clap::Args, Clone, Debug)]
pub struct ExposureArgs {
    /// Seconds a new connection has to complete its TLS handshake, HTTP/2 preface and first
    /// frame, and any connection to finish a header block it started; then it is closed.
    #[arg(long, env = "CANVASS_HANDSHAKE_TIMEOUT_SECONDS", default_value_t = 10)]
    pub handshake_timeout_seconds: u64,
    /// Seconds a connection may stay open without a call before it is closed (phones keep
    /// theirs between uploads).
    #[arg(long, env = "CANVASS_IDLE_TIMEOUT_SECONDS", default_value_t = 900)]
    pub idle_timeout_seconds: u64,
    /// Client connections open at once; a connection beyond it is closed as soon as it is
    /// accepted.
    #[arg(long, env = "CANVASS_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Certificate chain (PEM) to serve TLS with; needs --tls-key.
    #[arg(long, env = "CANVASS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "CANVASS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds between looks at the TLS files for a new certificate (SIGHUP looks at once).
    #[arg(long, env = "CANVASS_TLS_RELOAD_SECONDS", default_value_t = 30)]
    pub tls_reload_seconds: u64,
    /// Address to serve Prometheus metrics on (GET /metrics), e.g. 127.0.0.1:9464; none by
    /// default.
    #[arg(long, env = "CANVASS_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Address to serve the browser dashboard on (plain HTTP), e.g. 127.0.0.1:8080; none by
    /// default. Keep it on loopback or behind a TLS proxy: analysts send their token with
    /// every request.
    #[arg(long, env = "CANVASS_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
}

impl ExposureArgs {
    pub fn listener_settings(&self) -> ListenerSettings {
        ListenerSettings {
            timeouts: Timeouts {
                handshake: Duration::from_secs(self.handshake_timeout_seconds.max(1)),
                idle: Duration::from_secs(self.idle_timeout_seconds.max(1)),
            },
            max_connections: self.max_connections.max(1),
        }
    }

    pub fn tls_files(&self) -> Option<TlsFiles> {
        Some(TlsFiles {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
        })
    }
}

impl fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeArgs")
            .field("common", &self.common)
            .field("listen", &self.listen)
            .field("db_max_connections", &self.db_max_connections)
            .field(
                "phone_hash_key",
                &self.phone_hash_key.as_ref().map(|_| "<redacted>"),
            )
            .field("phone_hash_key_file", &self.phone_hash_key_file)
            .field("ingest_max_batch", &self.ingest_max_batch)
            .field("ingest_linger_micros", &self.ingest_linger_micros)
            .field("ingest_concurrent_commits", &self.ingest_concurrent_commits)
            .field("upload_max_in_flight", &self.upload_max_in_flight)
            .field("score_cache_campaigns", &self.score_cache_campaigns)
            .field("token_cache_capacity", &self.token_cache_capacity)
            .field("shutdown_grace_seconds", &self.shutdown_grace_seconds)
            .field("exposure", &self.exposure)
            .field("identity", &self.identity)
            .finish()
    }
}

impl ServeArgs {
    /// Settings for a server on `listen` that keeps everything in `data_dir`.
    pub fn for_data_dir(data_dir: &Path, listen: SocketAddr) -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let mut args = Wrapper::parse_from(["canvass"]).serve;
        args.common.data_dir = data_dir.to_owned();
        args.listen = listen;
        args
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            url: self.common.database_url(),
            max_connections: self.db_max_connections,
            acquire_timeout: Duration::from_secs(self.db_acquire_timeout_seconds),
        }
    }

    pub fn writer_config(&self) -> WriterConfig {
        WriterConfig {
            max_batch: self.ingest_max_batch.max(1),
            linger: Duration::from_micros(self.ingest_linger_micros),
            concurrent_commits: self.ingest_concurrent_commits.max(1),
            ..WriterConfig::default()
        }
    }

    /// The phone-hash secret: from the environment, or a key file created on first run that only
    /// the server's user may read.
    pub fn phone_hasher(&self) -> Result<PhoneHasher> {
        if let Some(key) = &self.phone_hash_key {
            return Ok(PhoneHasher::new(key.as_bytes().to_vec()));
        }
        let path = self
            .phone_hash_key_file
            .clone()
            .unwrap_or_else(|| self.common.data_dir.join("phone-hash.key"));
        let io = |e: std::io::Error| Error::internal(format!("{}: {e}", path.display()));
        file_modes::create_parents(&path)?;
        match file_modes::create_private(&path, hex::encode(rand::random::<[u8; 32]>()).as_bytes())
        {
            Ok(()) => tracing::info!(path = %path.display(), "created phone-hash key"),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => file_modes::tighten(&path)?,
            Err(e) => return Err(io(e)),
        }
        let key = std::fs::read_to_string(&path).map_err(io)?;
        if key.trim().is_empty() {
            return Err(Error::internal(format!(
                "{}: the phone-hash key is empty",
                path.display()
            )));
        }
        Ok(PhoneHasher::new(key.trim().as_bytes().to_vec()))
    }
}
