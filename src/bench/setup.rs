//! Where a benchmark run points: a Canvass it starts (child process, scratch data directory,
//! SQLite or a scratch PostgreSQL database) or one already running (`--target`).

use std::net::SocketAddr;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};

use super::server::{Memory, ScratchDir, ServerProcess};
use crate::auth::{KeyPaths, Role, TokenIssuer, ensure_keypair};
use crate::domain::ids::UnitId;
use crate::error::{Error, Result};
use crate::store::{ScratchDatabase, Store};

/// Lifetime of the tokens a run mints: longer than any run.
const TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);

#[derive(clap::Args, Clone)]
pub struct ServerArgs {
    /// Database of the server the run starts: SQLite in a scratch directory by default. A
    /// postgres:// URL names a PostgreSQL server on which the run creates a scratch database
    /// (and drops it afterwards); the user needs CREATEDB.
    #[arg(long)]
    pub database_url: Option<String>,
    /// A flag for the server the run starts, e.g. --server-arg=--token-cache-capacity=0
    /// (repeatable).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
}

#[derive(clap::Args, Clone)]
pub struct TargetArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Drive the Canvass running at host:port instead of starting one (its memory is then not
    /// reported).
    #[arg(long, requires = "token", conflicts_with = "database_url")]
    pub target: Option<String>,
    /// An admin token of the --target server. Every simulated device calls with it unless
    /// --jwt-private-key lets the run mint one per device.
    #[arg(long)]
    pub token: Option<String>,
    /// The --target server's token signing key, to mint a token per simulated device.
    #[arg(long, requires = "target")]
    pub jwt_private_key: Option<std::path::PathBuf>,
}

pub struct Setup {
    pub address: SocketAddr,
    /// The started server; `None` with `--target`.
    pub server: Option<ServerProcess>,
    /// "SQLite", "PostgreSQL" or "remote".
    pub store: &'static str,
    /// The started server's database.
    pub database_url: Option<String>,
    issuer: Option<TokenIssuer>,
    admin: MetadataValue<Ascii>,
    scratch_database: Option<ScratchDatabase>,
    server_args: Vec<String>,
    dir: ScratchDir,
}

impl Setup {
    /// Starts Canvass as a child process on a fresh data directory (and database).
    pub async fn start(args: &ServerArgs) -> Result<Self> {
        let dir = ScratchDir::new()?;
        let scratch_database = match &args.database_url {
            Some(url) => Some(ScratchDatabase::create(url).await?),
            None => None,
        };
        let database_url = scratch_database
            .as_ref()
            .map(|db| db.url.clone())
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("canvass.db").display()));
        let paths = KeyPaths {
            private_key: dir.path().join("jwt-ed25519.pem"),
            public_key: dir.path().join("jwt-ed25519.pub.pem"),
        };
        ensure_keypair(&paths)?;
        let server = ServerProcess::canvass(dir.path(), Some(&database_url), &args.server_args)?;
        let issuer = TokenIssuer::from_pem_file(&paths.private_key, "canvass", "canvass")?;
        let admin = bearer(&issuer.mint("bench-admin", Role::Admin, &[], TOKEN_TTL)?)?;
        Ok(Self {
            address: server.address,
            server: Some(server),
            store: Store::name_of(&database_url),
            database_url: Some(database_url),
            issuer: Some(issuer),
            admin,
            scratch_database,
            server_args: args.server_args.clone(),
            dir,
        })
    }

    /// Starts a server unless `--target` names one.
    pub async fn new(args: &TargetArgs) -> Result<Self> {
        let Some(target) = &args.target else {
            return Self::start(&args.server).await;
        };
        let address = tokio::net::lookup_host(target.as_str())
            .await
            .map_err(|e| Error::invalid("--target", format!("{target}: {e}")))?
            .next()
            .ok_or_else(|| Error::invalid("--target", format!("{target} has no address")))?;
        let token = args
            .token
            .as_deref()
            .ok_or_else(|| Error::invalid("--token", "required with --target"))?;
        let issuer = args
            .jwt_private_key
            .as_deref()
            .map(|key| TokenIssuer::from_pem_file(key, "canvass", "canvass"))
            .transpose()?;
        Ok(Self {
            address,
            server: None,
            store: "remote",
            database_url: None,
            issuer,
            admin: bearer(token)?,
            scratch_database: None,
            server_args: Vec::new(),
            dir: ScratchDir::new()?,
        })
    }

    pub fn admin(&self) -> &MetadataValue<Ascii> {
        &self.admin
    }

    /// Whether device tokens are minted per device (or all devices share the admin token).
    pub fn mints_tokens(&self) -> bool {
        self.issuer.is_some()
    }

    /// A token for one simulated device.
    pub fn device_token(
        &self,
        subject: &str,
        role: Role,
        units: &[UnitId],
    ) -> Result<MetadataValue<Ascii>> {
        match &self.issuer {
            Some(issuer) => bearer(&issuer.mint(subject, role, units, TOKEN_TTL)?),
            None => Ok(self.admin.clone()),
        }
    }

    pub fn server_memory(&self) -> Option<Memory> {
        self.server.as_ref().map(ServerProcess::memory)
    }

    /// The run's scratch directory.
    pub fn scratch_path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Stops the started server and starts it again on the same data, returning how long the
    /// new one took from its start to serving (reporting its address).
    pub async fn restart(&mut self) -> Result<Duration> {
        let server = self
            .server
            .take()
            .ok_or_else(|| Error::internal("only a server the run started can restart"))?;
        server.stop().await?;
        let started = std::time::Instant::now();
        let server = ServerProcess::canvass(
            self.dir.path(),
            self.database_url.as_deref(),
            &self.server_args,
        )?;
        let took = started.elapsed();
        self.address = server.address;
        self.server = Some(server);
        Ok(took)
    }

    /// Stops the started server and drops the scratch database.
    pub async fn finish(self) -> Result<()> {
        if let Some(server) = self.server {
            server.stop().await?;
        }
        if let Some(db) = self.scratch_database {
            db.drop_database().await?;
        }
        Ok(())
    }
}

pub fn bearer(token: &str) -> Result<MetadataValue<Ascii>> {
    format!("Bearer {token}")
        .parse()
        .map_err(|_| Error::invalid("--token", "is not a printable ASCII token"))
}
