//! A throwaway `redis-server` on 127.0.0.1 for tests and benchmarks: a free
//! port, no persistence, stopped when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalServer {
    child: Child,
    pub port: u16,
}

impl LocalServer {
    /// Starts Debian's `redis-server` (or `$REDIS_SERVER`) and waits until
    /// it answers `PING`. `None` where no such binary is installed.
    pub fn start() -> Option<LocalServer> {
        let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        let child = Command::new(&bin)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = LocalServer { child, port };
        let started = Instant::now();
        loop {
            if let Ok(mut con) = redis::Client::open(server.url()).and_then(|c| c.get_connection())
            {
                if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                    return Some(server);
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{bin} did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// [`Self::start`] for a test: `None` (the test skips, saying so) where
    /// no redis-server is installed, unless `TIMBRAL_REQUIRE_REDIS` is set
    /// (as CI sets it after installing one), where that is a failure.
    pub fn for_test() -> Option<LocalServer> {
        let s = LocalServer::start();
        if s.is_none() {
            assert!(
                std::env::var_os("TIMBRAL_REQUIRE_REDIS").is_none(),
                "redis-server is not installed (TIMBRAL_REQUIRE_REDIS is set)"
            );
            eprintln!(
                "skipped: no redis-server on this machine (Debian: apt-get install redis-server)"
            );
        }
        s
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops the server now (a test of what readers do when it is down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop();
    }
}
