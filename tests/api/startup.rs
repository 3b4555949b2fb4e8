//! The real binary: start-up failures and shutdown.

use std::{
    io::Read,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::test_db::TestDb;
use sqlx::PgPool;

pub(crate) fn service() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadrouter"));
    // A key exported in the developer's shell must not change what these tests see.
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .env_remove("LEADROUTER_ADMIN_KEY")
        .env_remove("LEADROUTER_AUTH__ADMIN_KEY");
    cmd
}

#[test]
fn an_unreachable_database_stops_start_up_with_one_line_naming_the_url() {
    let output = service()
        .env(
            "DATABASE_URL",
            "postgres://app:secret@127.0.0.1:1/leadrouter",
        )
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("PostgreSQL is not reachable at postgres://app:***@127.0.0.1:1/leadrouter"),
        "{stderr}"
    );
    assert!(stderr.contains("scripts/pg-local start"), "{stderr}");
}

#[test]
fn a_bad_config_key_stops_start_up_naming_file_and_key() {
    let output = service()
        .env("LEADROUTER_SERVER__PORTT", "9")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("default.toml") && stderr.contains("portt"),
        "{stderr}"
    );
}

#[test]
fn a_short_admin_key_stops_start_up_naming_the_key() {
    for variable in ["LEADROUTER_ADMIN_KEY", "LEADROUTER_AUTH__ADMIN_KEY"] {
        let output = service()
            .env(variable, "too-short")
            .output()
            .expect("the binary runs");
        assert_eq!(output.status.code(), Some(2), "{variable}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains("default.toml: auth.admin_key: must be at least 32 characters"),
            "{variable}: {stderr}"
        );
        assert!(
            !stderr.contains("too-short"),
            "the key is not echoed: {stderr}"
        );
    }
}

/// The running binary. A test that fails before [`stop`] kills it when it unwinds, so no
/// service outlives its test.
pub(crate) struct Service(pub(crate) Child);

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The URL of `pool`'s database, for the binary's `DATABASE_URL`.
pub(crate) fn database_url(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://postgres@{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap()
    )
}

/// Starts the binary on the test's database with `env`, and waits until it is ready.
pub(crate) async fn start(pool: &PgPool, env: &[(&str, &str)]) -> (Service, u16) {
    start_with(pool, env, |_| {}).await
}

/// [`start`], with the command changed by `configure` first.
async fn start_with(
    pool: &PgPool,
    env: &[(&str, &str)],
    configure: impl FnOnce(&mut Command),
) -> (Service, u16) {
    let url = database_url(pool);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = service();
    command
        .env("DATABASE_URL", url)
        .env("PORT", port.to_string())
        .envs(env.iter().copied())
        .stdout(Stdio::piped());
    configure(&mut command);
    let running = Service(command.spawn().expect("the binary starts"));

    let health = format!("http://127.0.0.1:{port}/readyz");
    let started = Instant::now();
    while reqwest::get(&health)
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "service did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (running, port)
}

/// Sends SIGTERM, asserts a clean exit within 10 s, and returns what the service logged.
async fn stop(mut service: Service) -> String {
    let child = &mut service.0;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "service did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut logged = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logged)
        .unwrap();
    logged
}

/// SIGTERM ends the process cleanly (exit 0) once in-flight work is done. Started with no
/// key at all, the service warns that nobody could use the API.
#[tokio::test]
async fn sigterm_stops_the_service_cleanly() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let (service, _) = start(&pool, &[]).await;
    let logged = stop(service).await;
    assert!(logged.contains("nobody can mint keys"), "{logged}");
}

#[tokio::test]
async fn the_bootstrap_admin_key_comes_from_the_environment() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let key = "lr_bootstrap-from-env-0123456789abcdef";
    let (service, port) = start(&pool, &[("LEADROUTER_ADMIN_KEY", key)]).await;
    let keys = format!("http://127.0.0.1:{port}/api/v1/api-keys");
    let client = reqwest::Client::new();
    let with_key = client.get(&keys).bearer_auth(key).send().await.unwrap();
    assert_eq!(with_key.status(), 200);
    let without = client.get(&keys).send().await.unwrap();
    assert_eq!(without.status(), 401);
    let logged = stop(service).await;
    assert!(!logged.contains("nobody can mint keys"), "{logged}");
    assert!(!logged.contains(key), "the key is never logged: {logged}");
}

#[test]
fn help_and_version_answer_without_starting_the_server() {
    for (flag, expected) in [
        ("--help", "Usage: leadrouter"),
        ("--version", "leadrouter 0."),
    ] {
        let output = service()
            .arg(flag)
            .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere")
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{flag}: {output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(stdout.contains(expected), "{flag}: {stdout}");
    }
}

/// As under `leadrouter 2>&1 | head -3`: once both output pipes are closed, requests are
/// still answered and SIGTERM still stops the service.
#[tokio::test]
async fn closed_output_pipes_neither_fail_requests_nor_block_sigterm() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let (mut service, port) = start_with(&pool, &[("RUST_LOG", "info")], |command| {
        command.stderr(Stdio::piped());
    })
    .await;
    drop(service.0.stdout.take());
    drop(service.0.stderr.take());
    let health = format!("http://127.0.0.1:{port}/healthz");
    for _ in 0..3 {
        let answer = reqwest::get(&health)
            .await
            .expect("the request is answered");
        assert_eq!(answer.status(), 200);
    }
    let child = &mut service.0;
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "service did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "a clean exit, not a panic: {status}");
}
