//! The `canvass` binary started as an operator starts it, with its own data directory.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn canvass(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_canvass"));
    command
        .env_clear()
        .env("CANVASS_DATA_DIR", data_dir)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    command
}

/// Starts `command` and returns it with the address it logs once it is serving.
pub fn serve(command: Command) -> (Child, String) {
    serve_with(command, &["serve", "--listen", "127.0.0.1:0"])
}

/// Starts `command` with `args` (which must make it serve on a free port) and returns it with
/// the address it logs once it is serving.
pub fn serve_with(mut command: Command, args: &[&str]) -> (Child, String) {
    let mut server = command
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stderr = BufReader::new(server.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(rest) = line.split("address=").nth(1) {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
    });
    let address = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server reports its address");
    (server, address)
}

/// Sends SIGTERM and waits for a clean exit.
pub fn stop(mut server: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.wait().unwrap();
    assert!(exit.success(), "clean exit on SIGTERM, got {exit:?}");
}
