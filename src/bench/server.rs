//! The server under test as a child process of this binary, so its memory is measured alone
//! (the load client runs in the parent), plus the scratch data directory and database it uses.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};

/// How long a starting server may take to report its address (PostgreSQL migrations included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping server may take to drain before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Warnings and errors of the child shown on the bench's stderr; the rest are dropped.
const MAX_FORWARDED_LINES: usize = 20;

/// Resident memory of a process, from /proc/<pid>/status.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// VmRSS, KiB.
    pub rss_kib: u64,
    /// VmHWM (peak RSS since start), KiB.
    pub peak_kib: u64,
}

pub fn memory_of(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// CPU time (user + system, all threads) a process has used so far, from /proc/<pid>/stat.
/// Linux reports CPU time in USER_HZ ticks, 100 on every mainstream architecture.
const TICKS_PER_SECOND: u64 = 100;

/// CPU time all processes on the machine have used so far (every state but idle and iowait),
/// from /proc/stat.
pub fn machine_busy_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Some(Duration::from_millis(busy * 1000 / TICKS_PER_SECOND))
}

pub fn cpu_time_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start with the state, field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SECOND,
    ))
}

/// A server this process started; stopped (SIGTERM, then SIGKILL) by [`ServerProcess::stop`]
/// or killed on drop.
pub struct ServerProcess {
    child: Child,
    pub address: SocketAddr,
}

impl ServerProcess {
    /// `canvass serve` on 127.0.0.1:0 with its data (keys, SQLite) in `data_dir`.
    pub fn canvass(data_dir: &Path, database_url: Option<&str>, extra: &[String]) -> Result<Self> {
        let mut command = Command::new(current_exe()?);
        command.arg("serve").arg("--listen").arg("127.0.0.1:0");
        command.arg("--data-dir").arg(data_dir);
        command.env_remove("DATABASE_URL");
        if let Some(url) = database_url {
            command.arg("--database-url").arg(url);
        }
        // The run measures the server, not its defence against abusive clients: its simulated
        // devices call far faster than phones do. `extra` may set limits again.
        command.args(["--rate-limit-per-subject=0", "--rate-limit-per-peer=0"]);
        command.args(extra);
        Self::spawn(command)
    }

    /// The no-op SubmissionService (`canvass bench noop-server`).
    pub fn noop() -> Result<Self> {
        let mut command = Command::new(current_exe()?);
        command.args(["bench", "noop-server", "--listen", "127.0.0.1:0"]);
        Self::spawn(command)
    }

    /// The no-op AggregateService answering with recorded replies
    /// (`canvass bench noop-read-server`).
    pub fn noop_reads(replies: &Path) -> Result<Self> {
        let mut command = Command::new(current_exe()?);
        command.args([
            "bench",
            "noop-read-server",
            "--listen",
            "127.0.0.1:0",
            "--replies",
        ]);
        command.arg(replies);
        Self::spawn(command)
    }

    fn spawn(mut command: Command) -> Result<Self> {
        let mut child = command
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::internal(format!("starting the server: {e}")))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| Error::internal("the server's stderr is not piped"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the address the server logs once it serves, then keeps draining the pipe (a full
        // pipe would block the server's logging), passing on its first warnings.
        std::thread::spawn(move || {
            let mut forwarded = 0;
            for line in BufReader::new(stderr)
                .lines()
                .map_while(std::result::Result::ok)
            {
                if let Some(rest) = line.split("address=").nth(1) {
                    let address = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(address.to_owned());
                } else if (line.contains(" WARN ") || line.contains("ERROR"))
                    && forwarded < MAX_FORWARDED_LINES
                {
                    forwarded += 1;
                    eprintln!("server: {line}");
                }
            }
        });
        let address = match rx.recv_timeout(START_TIMEOUT) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                return Err(Error::internal(format!(
                    "the server did not report its address (exit: {status:?})"
                )));
            }
        };
        let address = address
            .parse()
            .map_err(|e| Error::internal(format!("server address {address:?}: {e}")))?;
        Ok(Self { child, address })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn memory(&self) -> Memory {
        memory_of(self.pid()).unwrap_or_default()
    }

    /// Stops the server as an operator would (SIGTERM, which commits what is queued) and waits.
    pub async fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(Error::internal(
            "the server did not stop on SIGTERM; killed it",
        ))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn current_exe() -> Result<PathBuf> {
    std::env::current_exe().map_err(|e| Error::internal(format!("locating this binary: {e}")))
}

/// A scratch directory, removed on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new() -> Result<Self> {
        let path = std::env::temp_dir().join(format!("canvass-bench-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path)
            .map_err(|e| Error::internal(format!("creating {}: {e}", path.display())))?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_machines_cpu_time() {
        assert!(machine_busy_time().expect("/proc is mounted") > Duration::ZERO);
    }

    #[test]
    fn reads_this_process_cpu_time() {
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {
            std::hint::black_box(0);
        }
        assert!(cpu_time_of(std::process::id()).expect("/proc is mounted") > Duration::ZERO);
    }

    #[test]
    fn reads_this_process_memory() {
        let memory = memory_of(std::process::id()).expect("/proc is mounted");
        assert!(memory.rss_kib > 0 && memory.peak_kib >= memory.rss_kib);
    }
}
