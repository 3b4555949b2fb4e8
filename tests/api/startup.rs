//! The real binary: start-up failures and shutdown.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use sqlx::PgPool;

fn service() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadrouter"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn");
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

/// SIGTERM ends the process cleanly (exit 0) once in-flight work is done.
#[sqlx::test]
async fn sigterm_stops_the_service_cleanly(pool: PgPool) {
    let options = pool.connect_options();
    let url = format!(
        "postgres://postgres@{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = service()
        .env("DATABASE_URL", url)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("the binary starts");

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
}
