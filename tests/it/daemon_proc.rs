//! The real `qualifyd` binary as a child process, for the tests that kill it, fill its disk or
//! signal it (tests/it/crash.rs, tests/it/full_disk.rs, and tests/torture.rs, which includes
//! this file): spawn, SIGKILL, signals, bounded waits, and the settings they share.

#![allow(dead_code)] // Each including test uses its own part of it.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A daemon started by [`Proc::spawn`]; killed when dropped. Its stderr goes to
/// `dir/daemon.log` at `QUALIFYD_TEST_LOG` (default `warn`).
pub struct Proc {
    pub child: Child,
}

impl Proc {
    /// Runs `qualifyd serve --config dir/config.yaml`.
    pub fn spawn(dir: &Path) -> Proc {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("daemon.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_qualifyd"))
            .args(["serve", "--config"])
            .arg(dir.join("config.yaml"))
            .env("QUALIFYD_LOG", std::env::var("QUALIFYD_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .env_remove("QUALIFYD_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the qualifyd binary starts");
        Proc { child }
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal by name (`TERM`, `STOP`...).
    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
    }

    /// SIGTERM, and wait for the exit.
    pub fn terminate(&mut self) {
        self.signal("TERM");
        let _ = self.child.wait();
    }

    /// Waits (bounded) for the process to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `/healthz` until it answers 2xx; fails with the daemon's log after 60 s (a store
/// reopened after a kill may take a while to recover under load).
pub async fn wait_healthy(client: &reqwest::Client, base: &str, dir: &Path) {
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
        assert!(started.elapsed() < Duration::from_secs(60), "the daemon did not become healthy; log:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Settings for such a daemon: loopback on `port`, always within the send window, the
/// development key, SMS through the outbox driver, `token` as admin and inbound token.
pub fn config(port: u16, data_dir: &str, token: &str) -> String {
    format!(
        "listen: 127.0.0.1:{port}\npublic_url: http://127.0.0.1:{port}\ndata_dir: {data_dir}\nworkflows_dir: ./workflows\nprompts_dir: ./prompts\ntimezone: UTC\nsend_window: {{ days: [mon, tue, wed, thu, fri, sat, sun], hours: \"00:00-24:00\" }}\nadmin_token: {token}\ninbound_token: {token}\nprivacy: {{ development_key: true }}\nchannels: {{ sms: {{ driver: outbox }} }}\n"
    )
}
