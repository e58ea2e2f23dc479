//! A throwaway PostgreSQL 15 cluster on a loopback port, for the PostgreSQL store's tests:
//! `initdb` in a temporary directory, `pg_ctl start`, and stop/start on demand (the
//! "database stopped mid-run" test). PostgreSQL refuses to run as root, so as root the
//! cluster runs as the `postgres` user (`runuser`). A machine without PostgreSQL fails the
//! tests loudly (`scripts/test` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Where Debian puts the server binaries; `DEPIN_PG_BIN` overrides.
fn bin_dir() -> PathBuf {
    std::env::var_os("DEPIN_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub(crate) struct PgCluster {
    dir: tempfile::TempDir,
    pub(crate) port: u16,
    root: bool,
}

impl PgCluster {
    /// A new cluster, started.
    pub(crate) fn start() -> PgCluster {
        let initdb = bin_dir().join("initdb");
        assert!(
            initdb.exists(),
            "PostgreSQL 15 server binaries not found at {} (install the Debian package \
             postgresql-15, or set DEPIN_PG_BIN): the PostgreSQL store tests cannot run",
            bin_dir().display()
        );
        let dir = tempfile::Builder::new()
            .prefix("depin-pg-")
            .tempdir_in("/tmp")
            .unwrap();
        let root = is_root();
        if root {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of the cluster directory failed");
        }
        let data = dir.path().join("data");
        let out = run_as(
            root,
            &initdb,
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", stderr(&out));
        let port = free_port();
        let cluster = PgCluster { dir, port, root };
        cluster.up();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A fresh database in the cluster (one per test), and its connection string.
    pub(crate) fn database(&self, name: &str) -> String {
        let out = run_as(
            self.root,
            &bin_dir().join("createdb"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ],
        );
        assert!(out.status.success(), "createdb {name}: {}", stderr(&out));
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={name} connect_timeout=2",
            self.port
        )
    }

    /// Start (or restart) the server and wait until it accepts connections.
    pub(crate) fn up(&self) {
        let data = self.data();
        let log = self.dir.path().join("server.log");
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=on",
            self.port,
            self.dir.path().display()
        );
        let out = run_as(
            self.root,
            &bin_dir().join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {} {}",
            stderr(&out),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the server at once (`immediate`: like a crash, no shutdown checkpoint).
    pub(crate) fn down(&self) {
        let out = run_as(
            self.root,
            &bin_dir().join("pg_ctl"),
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        assert!(out.status.success(), "pg_ctl stop failed: {}", stderr(&out));
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = run_as(
            self.root,
            &bin_dir().join("pg_ctl"),
            &[
                "-D",
                self.data().to_str().unwrap_or(""),
                "-m",
                "immediate",
                "stop",
            ],
        );
    }
}

fn run_as(root: bool, program: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).output().unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
