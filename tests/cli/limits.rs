//! The binary out of file descriptors: with more clients than its open-files limit allows, it
//! pauses accepting instead of spinning on the failing accept (which took ~120% CPU with no
//! traffic before), and once descriptors are free again it serves new calls.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use canvass::proto::v1 as pb;
use canvass::proto::v1::catalog_service_client::CatalogServiceClient;

use crate::binary::{canvass, serve, stop};

/// Open files the server may hold: enough to start, far fewer than the clients below.
const OPEN_FILES: u64 = 64;
const CLIENTS: usize = 150;

fn with_open_files_limit(mut command: Command, limit: u64) -> Command {
    // SAFETY: setrlimit is async-signal-safe and touches nothing the forked child shares.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// CPU time (user + system) the process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

async fn list_units(address: &str, token: &str) -> Result<(), String> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut request = tonic::Request::new(pb::ListUnitsRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    CatalogServiceClient::new(channel)
        .list_units(request)
        .await
        .map(|_| ())
        .map_err(|s| format!("{s:?}"))
}

#[tokio::test]
async fn out_of_file_descriptors_the_server_pauses_accepting_and_recovers() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = canvass(data_dir.path())
        .args(["token", "--role", "admin", "--subject", "ops"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();

    let mut command = canvass(data_dir.path());
    command
        .env("CANVASS_MAX_CONNECTIONS", "100000")
        .env("CANVASS_HANDSHAKE_TIMEOUT_SECONDS", "600")
        .env("CANVASS_DB_MAX_CONNECTIONS", "2");
    let (server, address) = serve(with_open_files_limit(command, OPEN_FILES));
    list_units(&address, &token).await.expect("served before");

    // More idle clients than the server has descriptors for: its accepts start failing.
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (before, started) = (cpu_time(server.id()), Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = cpu_time(server.id()) - before;
    let elapsed = started.elapsed();
    // A spinning accept loop burns a whole core (some of it even on a loaded machine); the
    // pausing one wakes a few times a second.
    assert!(
        used < elapsed / 5,
        "the server used {used:?} of CPU in {elapsed:?} with no traffic"
    );

    // Descriptors free again: new calls are served within the longest pause.
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match list_units(&address, &token).await {
            Ok(()) => break,
            Err(e) => assert!(Instant::now() < deadline, "not served after recovery: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::task::spawn_blocking(move || stop(server))
        .await
        .unwrap();
}
