//! Slow and idle clients: the listener's header-read and idle timeouts close their
//! connections, and its connection cap holds.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::TestApp;
use crate::test_db::TestDb;

/// A service whose clients get 1 s to send a request head and 2 s of idleness.
async fn impatient(pool: PgPool, max_connections: usize) -> TestApp {
    TestApp::spawn_with_settings(pool, |settings| {
        settings.server.header_read_timeout_secs = 1;
        settings.server.idle_timeout_secs = 2;
        settings.server.max_connections = max_connections;
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection, and returns how long that took (or `None`
/// if it was still open after `within`).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    let until_closed = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, until_closed)
        .await
        .ok()
        .map(|()| started.elapsed())
}

#[tokio::test]
async fn a_half_sent_request_head_is_closed_by_the_header_read_timeout() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = impatient(pool, 100).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"POST /webhooks/events HTTP/1.1\r\nHost: localhost\r\nContent-")
        .await
        .unwrap();
    let took = closed_within(&mut stream, Duration::from_secs(10))
        .await
        .expect("the connection is closed");
    assert!(
        took < Duration::from_millis(1_900),
        "closed after {took:?}, before the idle timeout"
    );
}

#[tokio::test]
async fn idle_connections_are_closed_and_busy_ones_are_not() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = impatient(pool, 100).await;
    let mut idle = connect(&app).await;
    let mut busy = connect(&app).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    // One request every 0.6 s for 3 s: longer than both timeouts, never idle past either.
    for _ in 0..5 {
        busy.write_all(request).await.unwrap();
        let mut answer = [0u8; 1024];
        let n = busy.read(&mut answer).await.unwrap();
        assert!(
            answer[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&answer[..n])
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let took = closed_within(&mut idle, Duration::from_secs(10))
        .await
        .expect("the idle connection is closed");
    assert!(
        took < Duration::from_secs(1),
        "it had been idle 3 s already: {took:?}"
    );
    let took = closed_within(&mut busy, Duration::from_secs(10))
        .await
        .expect("the kept-alive connection is closed once idle");
    assert!(
        took >= Duration::from_millis(1_000),
        "closed {took:?} after its last answer"
    );
}

/// With as many idle connections open as the cap, nothing more is served; once they close,
/// the waiting client is.
#[tokio::test]
async fn past_the_connection_cap_a_client_waits_until_a_connection_closes() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn_with_settings(pool, |settings| {
        settings.server.idle_timeout_secs = 60;
        settings.server.max_connections = 2;
    })
    .await;
    let open = [connect(&app).await, connect(&app).await];
    let health = format!("{}/healthz", app.base);
    let waiting = reqwest::Client::new()
        .get(&health)
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(
        waiting.is_err(),
        "past the cap nothing is served: {waiting:?}"
    );
    drop(open);
    let served = reqwest::Client::new()
        .get(&health)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("served once connections closed");
    assert_eq!(served.status(), 200);
}
