//! A throwaway PostgreSQL primary and its streaming replica, from the machine's own binaries
//! (`pg_config --bindir`): `initdb`, `pg_basebackup -R`, `pg_ctl`. Both live in a temporary
//! folder and are stopped and removed on drop. As root, the servers run as `postgres`, since
//! PostgreSQL refuses to run as root.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
};

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    pub primary_port: u16,
    pub replica_port: u16,
}

impl Cluster {
    /// Starts a primary, takes a base backup of it and starts that as a hot standby.
    pub fn start() -> Self {
        let bin = PathBuf::from(output(Command::new("pg_config").arg("--bindir")).trim());
        let dir = std::env::temp_dir().join(format!("lr-replica-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        if running_as_root() {
            output(Command::new("chown").arg("postgres").arg(&dir));
        }
        let cluster = Cluster {
            primary_port: free_port(),
            replica_port: free_port(),
            dir,
            bin,
        };
        let primary = cluster.dir.join("primary");
        cluster.run(
            "initdb",
            &[
                "-D",
                path(&primary),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        cluster.configure(&primary, cluster.primary_port);
        cluster.pg_ctl(&primary, "start");
        let replica = cluster.dir.join("replica");
        cluster.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &cluster.primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                path(&replica),
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        cluster.configure(&replica, cluster.replica_port);
        cluster.pg_ctl(&replica, "start");
        cluster
    }

    pub fn primary_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.primary_port
        )
    }

    pub fn replica_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.replica_port
        )
    }

    /// Stops the replica at once, as a crash would.
    pub fn stop_replica(&self) {
        let out = self.stop("replica").expect("pg_ctl runs");
        assert!(out.status.success(), "stopping the replica: {out:?}");
    }

    /// `pg_ctl stop -m immediate` of `server` (`primary` or `replica`).
    fn stop(&self, server: &str) -> std::io::Result<std::process::Output> {
        let data = self.dir.join(server);
        self.command("pg_ctl")
            .args(["-D", path(&data), "-m", "immediate", "-w", "stop"])
            .output()
    }

    /// The settings both servers run with: their port, a socket in the cluster's folder (the
    /// machine's own server keeps the default one), and fast, unsafe durability.
    fn configure(&self, data: &Path, port: u16) {
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nmax_wal_senders = 4\nhot_standby = on\n",
            self.dir.display()
        ));
        std::fs::write(&conf, text).unwrap();
    }

    fn pg_ctl(&self, data: &Path, action: &str) {
        let log = data.with_extension("log");
        self.run(
            "pg_ctl",
            &["-D", path(data), "-l", path(&log), "-w", action],
        );
    }

    fn run(&self, program: &str, args: &[&str]) {
        output(self.command(program).args(args));
    }

    /// `program` from the PostgreSQL binaries, as `postgres` when running as root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for server in ["replica", "primary"] {
            let _ = self.stop(server);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn output(command: &mut Command) -> String {
    let out = command.output().expect("the PostgreSQL binaries run");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

fn running_as_root() -> bool {
    output(Command::new("id").arg("-u")).trim() == "0"
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
