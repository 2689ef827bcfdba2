//! The real binary as a child process (`qualifyd serve --config <dir>/config.yaml`), for the
//! figures that must not include the bench itself: time from spawn to the first `200` from
//! `/healthz`, and the daemon's own resident memory. Requests are plain HTTP/1.1 over a loopback
//! socket; the child is stopped with SIGTERM (by its pid) and killed only if it does not exit.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Error;
use super::fixture::{self, ADMIN_TOKEN};
use super::probe::{self, Memory};

const START_LIMIT: Duration = Duration::from_secs(600);

/// A running `qualifyd serve`.
pub struct Daemon {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// From spawning the process to the first `200` from `/healthz`.
    pub ready: Duration,
    log: PathBuf,
}

impl Daemon {
    /// Starts the daemon on `dir` (which holds `workflows/`, `prompts/` and maybe `data/`).
    pub fn start(dir: &Path) -> Result<Daemon, Error> {
        let config = fixture::config_file(dir)?;
        let log = dir.join("daemon.log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| Error::io("opening", &log, e))?;
        let exe = running_binary()?;
        let started = Instant::now();
        let mut child = Command::new(&exe)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("QUALIFYD_LOG", "warn")
            .env_remove("QUALIFYD_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| Error::io("starting the daemon from", &exe, e))?;
        let stdout = child.stdout.take().ok_or_else(|| Error::Child("no stdout".into()))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("qualifyd listening on http://") {
                    let _ = tx.send(addr.trim().parse::<SocketAddr>().ok());
                }
            }
        });
        let mut daemon =
            Daemon { child: Some(child), addr: SocketAddr::from(([127, 0, 0, 1], 0)), ready: Duration::ZERO, log };
        match rx.recv_timeout(START_LIMIT) {
            Ok(Some(addr)) => daemon.addr = addr,
            _ => return Err(daemon.failed("it did not print its address")),
        }
        while !matches!(daemon.get("/healthz"), Ok((200, _))) {
            if started.elapsed() > START_LIMIT {
                return Err(daemon.failed("/healthz never answered 200"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        daemon.ready = started.elapsed();
        Ok(daemon)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn memory(&self) -> Memory {
        probe::memory(Some(self.pid()))
    }

    /// `GET path` with the admin token; returns the status and how long the whole answer took.
    pub fn get(&self, path: &str) -> Result<(u16, Duration), Error> {
        let started = Instant::now();
        let io = |e| Error::io("requesting", Path::new(path), e);
        let mut stream = TcpStream::connect(self.addr).map_err(io)?;
        stream.set_read_timeout(Some(Duration::from_secs(600))).map_err(io)?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).map_err(io)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).map_err(io)?;
        let status =
            String::from_utf8_lossy(&answer).split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        Ok((status, started.elapsed()))
    }

    /// SIGTERM, then wait for the graceful exit (killed after 60 s).
    pub fn stop(mut self) -> Result<(), Error> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(Error::Child(format!("pid {} did not stop within 60 s after SIGTERM; killed", child.id())))
    }

    fn failed(&mut self, what: &str) -> Error {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Error::Child(format!("{what}; its log ends with:\n{}", tail.join("\n")))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// This very binary, even if its file was replaced since it started (a rebuild during a run):
/// `/proc/self/exe` names the running image, and a forked child still runs the same one.
fn running_binary() -> Result<PathBuf, Error> {
    let proc = PathBuf::from("/proc/self/exe");
    if proc.exists() {
        return Ok(proc);
    }
    std::env::current_exe().map_err(|e| Error::io("finding", Path::new("the qualifyd binary"), e))
}

/// Starts a daemon on `dir`, lets it settle for `settle`, reads its memory, stops it.
pub fn idle_memory(dir: &Path, settle: Duration) -> Result<(Memory, Duration), Error> {
    let daemon = Daemon::start(dir)?;
    std::thread::sleep(settle);
    let memory = daemon.memory();
    let ready = daemon.ready;
    daemon.stop()?;
    Ok((memory, ready))
}
