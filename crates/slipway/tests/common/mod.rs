//! What the binary's integration tests share: the built binary, child
//! processes that never outlive a failing test, free ports, and a
//! `slipway server` over a home directory.

// Each test file uses a different subset.
#![allow(dead_code)]

use slipway_client::SlipwayClient;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_slipway");

/// Kills the child on drop, so a failing assertion never leaks it.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Waits (up to 30 s) until the server answers `/health`.
pub fn wait_healthy(client: &SlipwayClient) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let rt = rt();
    while rt.block_on(client.health()).is_err() {
        assert!(
            Instant::now() < deadline,
            "server at {} never became healthy",
            client.base_url()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `slipway server` on a free port over the embedded store under `home`.
pub fn serve_home(home: &Path) -> (ChildGuard, SlipwayClient) {
    let port = free_port();
    let child = Command::new(BIN)
        .args(["server", "--port", &port.to_string()])
        .env("SLIPWAY_HOME", home)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = ChildGuard(child);
    let client = SlipwayClient::new(format!("http://127.0.0.1:{port}")).unwrap();
    wait_healthy(&client);
    (guard, client)
}

/// `slipway datagen churn` (seeded, 60 days) into `out` with `extra`
/// arguments; returns the path of its training file.
pub fn datagen_churn(out: &Path, customers: u32, extra: &[&str]) -> std::path::PathBuf {
    let o = Command::new(BIN)
        .args(["datagen", "churn", "--customers"])
        .arg(customers.to_string())
        .args(["--days", "60", "--quiet"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let format = extra
        .windows(2)
        .find(|w| w[0] == "--format")
        .map_or("parquet", |w| w[1]);
    out.join(format!("training.{format}"))
}
