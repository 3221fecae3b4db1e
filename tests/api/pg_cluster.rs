//! PostgreSQL for the end-to-end tests: a fresh, empty database per call.
//!
//! With `CANVASS_TEST_PG_URL` set, databases are created on that server. Otherwise the first
//! call starts a throwaway cluster for this test process (initdb into a temporary directory,
//! `postgres` on a free loopback port) that dies with the process. Without PostgreSQL binaries
//! the tests are skipped, except on CI (`CI=true`), where that is an error.
//!
//! A test that needs to stop and restart its database takes an [`OwnedCluster`] instead: the
//! same mechanics, but the cluster belongs to the returned handle.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::sync::{OnceCell, watch};
use uuid::Uuid;

/// The cluster of this test process, or `None` when there are no binaries to start one.
static CLUSTER: OnceCell<Option<Cluster>> = OnceCell::const_new();

/// How long a starting server may take before the tests give up on it.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Tries with another port when the chosen one was taken in the meantime.
const START_ATTEMPTS: usize = 5;

/// A URL of a new, empty database, or `None` when PostgreSQL is unavailable here (the caller
/// should skip its test).
pub async fn fresh_database_url() -> Option<String> {
    let admin_url = match std::env::var("CANVASS_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => CLUSTER
            .get_or_init(start_cluster)
            .await
            .as_ref()?
            .admin_url
            .clone(),
    };
    Some(create_database(&admin_url).await)
}

/// Creates a new, empty database on the server of `admin_url` and returns its URL.
async fn create_database(admin_url: &str) -> String {
    let name = format!("canvass_test_{}", Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL server: {e}"));
    // template0 is never connected to, so concurrent creates do not contend for the template.
    // The name is generated above, so the statement is safe to assemble.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE {name} TEMPLATE template0"
    )))
    .execute(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
    conn.close().await.ok();
    with_database(admin_url, &name)
}

/// A running throwaway cluster. Never dropped: the server lives as long as the process.
struct Cluster {
    admin_url: String,
}

async fn start_cluster() -> Option<Cluster> {
    let Some(bin) = find_binaries() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "PostgreSQL binaries (initdb, postgres) not found on PATH or in \
                 /usr/lib/postgresql/*/bin; install PostgreSQL or set CANVASS_TEST_PG_URL"
            );
        }
        eprintln!(
            "skipping PostgreSQL tests: no initdb/postgres on PATH or in \
             /usr/lib/postgresql/*/bin, and CANVASS_TEST_PG_URL is not set"
        );
        return None;
    };
    let (_dir, port, _server) = init_and_start(&bin, ServerUser::for_current_process()).await;
    Some(Cluster {
        admin_url: admin_url(port),
    })
}

/// Runs initdb into a new directory and starts the server on a free port.
async fn init_and_start(bin: &Path, owner: ServerUser) -> (PathBuf, u16, Server) {
    remove_stale_clusters();
    let initdb_bin = bin.to_owned();
    let dir = tokio::task::spawn_blocking(move || init_cluster(&initdb_bin, owner))
        .await
        .expect("initdb task panicked");
    for _ in 0..START_ATTEMPTS {
        let port = free_port();
        let server = spawn_postgres(bin, &dir, port, owner);
        match wait_until_ready(&admin_url(port), &server).await {
            Ready::Yes => return (dir, port, server),
            Ready::PortTaken => continue,
        }
    }
    panic!("PostgreSQL could not bind a free port in {START_ATTEMPTS} attempts");
}

fn admin_url(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

/// A cluster that belongs to one test, which may stop it and start it again (same data
/// directory, same port, so URLs stay valid). Dropping the handle kills the server.
pub struct OwnedCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    owner: ServerUser,
    /// `None` while stopped.
    server: Option<Server>,
}

/// Starts a cluster for the calling test alone, or `None` (with the reason printed) when there
/// are no PostgreSQL binaries; on CI that is an error. `CANVASS_TEST_PG_URL` does not help
/// here: a test cannot stop a server it does not own.
pub async fn owned_cluster() -> Option<OwnedCluster> {
    let Some(bin) = find_binaries() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "PostgreSQL binaries (initdb, postgres) not found on PATH or in \
                 /usr/lib/postgresql/*/bin; this test needs a cluster it can stop and start"
            );
        }
        eprintln!(
            "skipping: this test stops and starts its own PostgreSQL cluster, and there is no \
             initdb/postgres on PATH or in /usr/lib/postgresql/*/bin"
        );
        return None;
    };
    let owner = ServerUser::for_current_process();
    let (dir, port, server) = init_and_start(&bin, owner).await;
    Some(OwnedCluster {
        bin,
        dir,
        port,
        owner,
        server: Some(server),
    })
}

impl OwnedCluster {
    /// A URL of a new, empty database on this cluster.
    pub async fn fresh_database_url(&self) -> String {
        create_database(&admin_url(self.port)).await
    }

    /// Fast shutdown (SIGINT): open sessions are terminated, the server checkpoints and exits.
    /// Returns once the postmaster has exited.
    pub async fn stop(&mut self) {
        let mut server = self.server.take().expect("the cluster is running");
        server.signal(libc::SIGINT);
        let exited = tokio::time::timeout(START_TIMEOUT, server.exited())
            .await
            .unwrap_or_else(|_| panic!("PostgreSQL did not stop within {START_TIMEOUT:?}"));
        assert!(
            exited.is_none_or(|status| status.success()),
            "PostgreSQL failed to shut down ({exited:?}); log: {}",
            server.log.display()
        );
    }

    /// Starts the stopped cluster again on the same port.
    pub async fn start(&mut self) {
        assert!(self.server.is_none(), "the cluster is already running");
        let server = spawn_postgres(&self.bin, &self.dir, self.port, self.owner);
        match wait_until_ready(&admin_url(self.port), &server).await {
            Ready::Yes => self.server = Some(server),
            Ready::PortTaken => panic!(
                "port {} was taken while PostgreSQL was stopped; the test cannot go on",
                self.port
            ),
        }
    }
}

impl Drop for OwnedCluster {
    fn drop(&mut self) {
        // Immediate shutdown: nothing in a throwaway cluster is worth a checkpoint. The
        // directory goes with the next run's stale-cluster sweep, as the shared cluster's does.
        if let Some(server) = &self.server {
            server.signal(libc::SIGQUIT);
        }
    }
}

/// Where the cluster's binaries are: PATH first, then Debian's versioned directories (newest
/// version first).
fn find_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(dir) = on_path.into_iter().find(|dir| has_both(dir)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The account the server runs as: initdb and postgres refuse to run as root, so a root test
/// process hands the cluster to an unprivileged user.
#[derive(Clone, Copy)]
struct ServerUser {
    /// `None`: run as the current user.
    switch_to: Option<(libc::uid_t, libc::gid_t)>,
}

impl ServerUser {
    fn for_current_process() -> Self {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Self { switch_to: None };
        }
        // SAFETY: called once during start-up; the returned record is copied out immediately.
        let nobody = unsafe { libc::getpwnam(c"nobody".as_ptr()) };
        let ids = if nobody.is_null() {
            (65534, 65534)
        } else {
            // SAFETY: getpwnam returned a valid record.
            unsafe { ((*nobody).pw_uid, (*nobody).pw_gid) }
        };
        Self {
            switch_to: Some(ids),
        }
    }

    fn chown(self, path: &Path) {
        if let Some((uid, gid)) = self.switch_to {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }

    /// Makes `command` run as this user and die with this process.
    fn configure(self, command: &mut Command) {
        let parent = std::process::id();
        let switch_to = self.switch_to;
        // SAFETY: the closure only makes async-signal-safe system calls.
        unsafe {
            command.pre_exec(move || {
                if let Some((uid, gid)) = switch_to
                    && (libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setgid(gid) != 0
                        || libc::setuid(uid) != 0)
                {
                    return Err(io::Error::last_os_error());
                }
                // After setuid, which clears the parent-death signal.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    return Err(io::Error::other("test process exited"));
                }
                Ok(())
            });
        }
    }
}

/// Prefix of the cluster directories, followed by the owning process id.
const DIR_PREFIX: &str = "canvass-pg-";

/// Removes clusters left behind by test processes that no longer run (the process cannot
/// clean up after itself: its server outlives every destructor).
fn remove_stale_clusters() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            fs::remove_dir_all(entry.path()).ok();
        }
    }
}

/// Creates the cluster directory and runs initdb; returns the directory, which holds `data/`,
/// the server logs and the server's socket.
fn init_cluster(bin: &Path, owner: ServerUser) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{DIR_PREFIX}{}-{}",
        std::process::id(),
        &Uuid::new_v4().simple().to_string()[..8]
    ));
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    owner.chown(&dir);
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(dir.join("data"))
        .args([
            "--auth=trust",
            "-U",
            "postgres",
            "--encoding=UTF8",
            "--locale=C",
        ])
        // Syncing a throwaway cluster's initial files only costs time; the server itself runs
        // with fsync on.
        .arg("--no-sync")
        .current_dir(&dir)
        .stdin(Stdio::null());
    owner.configure(&mut initdb);
    let output = initdb
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.join("initdb").display()));
    assert!(
        output.status.success(),
        "initdb failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding an ephemeral loopback port")
}

/// A started postmaster.
struct Server {
    pid: libc::pid_t,
    /// Becomes `Some` once the postmaster has exited (and stays `None` if its parent thread
    /// could not wait for it, in which case the sender is dropped).
    exit_status: watch::Receiver<Option<ExitStatus>>,
    data: PathBuf,
    log: PathBuf,
}

impl Server {
    fn has_exited(&self) -> bool {
        self.exit_status.borrow().is_some() || self.exit_status.has_changed().is_err()
    }

    /// Waits until the postmaster has exited; its status, when known.
    async fn exited(&mut self) -> Option<ExitStatus> {
        // An error means the parent thread is gone, so there is nothing left to wait for.
        let status = self.exit_status.wait_for(Option::is_some).await.ok()?;
        *status
    }

    fn signal(&self, signal: libc::c_int) {
        // Only while it runs: once reaped, the pid may belong to another process.
        if !self.has_exited() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(self.pid, signal) };
        }
    }
}

/// Starts the postmaster from a thread that lives as long as the process: the parent-death
/// signal fires when the spawning *thread* exits, and test threads end with their test.
fn spawn_postgres(bin: &Path, dir: &Path, port: u16, owner: ServerUser) -> Server {
    let log = dir.join(format!("postgres-{port}.log"));
    let log_file =
        fs::File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
    owner.chown(&log);
    let mut postgres = Command::new(bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=on",
            // Many tests run at once, each with its own pool, on a small machine.
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=64MB",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    owner.configure(&mut postgres);

    let (exit_tx, exit_status) = watch::channel(None);
    let (spawned_tx, spawned_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("postgres-{port}"))
        .spawn(move || match postgres.spawn() {
            Ok(mut child) => {
                spawned_tx.send(Ok(child.id())).ok();
                if let Ok(status) = child.wait() {
                    exit_tx.send_replace(Some(status));
                }
            }
            Err(e) => {
                spawned_tx.send(Err(e)).ok();
            }
        })
        .expect("spawning the postgres parent thread");
    let pid = spawned_rx
        .recv()
        .expect("the postgres parent thread reports the spawn")
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.join("postgres").display()));
    Server {
        pid: libc::pid_t::try_from(pid).expect("process ids fit pid_t"),
        exit_status,
        data: dir.join("data"),
        log,
    }
}

enum Ready {
    Yes,
    /// The server stopped because another process took its port first.
    PortTaken,
}

async fn wait_until_ready(admin_url: &str, server: &Server) -> Ready {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if server.has_exited() {
            let status = *server.exit_status.borrow();
            let log = fs::read_to_string(&server.log).unwrap_or_default();
            if log.contains("could not bind") || log.contains("already in use") {
                return Ready::PortTaken;
            }
            panic!("PostgreSQL exited during start-up ({status:?}):\n{log}");
        }
        if let Ok(mut conn) = PgConnection::connect(admin_url).await {
            // Another process's server may hold the port while ours fails to bind it.
            let data_dir: Option<String> = sqlx::query_scalar("SHOW data_directory")
                .fetch_one(&mut conn)
                .await
                .ok();
            conn.close().await.ok();
            match data_dir {
                Some(dir) if Path::new(&dir) == server.data => return Ready::Yes,
                Some(_) => {
                    // Ours stops on its own; the next attempt reuses its data directory.
                    let mut exit_status = server.exit_status.clone();
                    tokio::time::timeout_at(deadline.into(), exit_status.wait_for(Option::is_some))
                        .await
                        .expect("PostgreSQL did not stop")
                        .ok();
                    return Ready::PortTaken;
                }
                None => {}
            }
        }
        assert!(
            Instant::now() < deadline,
            "PostgreSQL did not accept connections within {START_TIMEOUT:?}; log: {}",
            server.log.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `url` with its database (the path) replaced by `database`, keeping credentials and
/// parameters.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    match query {
        Some(query) => format!("{}/{database}?{query}", &base[..path]),
        None => format!("{}/{database}", &base[..path]),
    }
}
