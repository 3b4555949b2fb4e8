//! A PostgreSQL database of each test's own, migrated, with a name no other run shares.
//!
//! `#[sqlx::test]` names its databases after the test's path, so two suites on one server
//! (two clones, two CI jobs) create, use and drop the same databases under each other. Here
//! every database gets a fresh random name; it is dropped when its test passes and kept, with
//! its name printed, when the test fails.

use std::{path::Path, str::FromStr};

use sqlx::{
    Connection, Executor, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use uuid::Uuid;

/// Where test databases are created: `DATABASE_URL` from the environment or `.env`.
fn server_url() -> String {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return url;
    }
    let dotenv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".env");
    std::fs::read_to_string(dotenv)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.trim().strip_prefix("DATABASE_URL=").map(str::to_owned))
        })
        .unwrap_or_else(|| "postgres://postgres@localhost:5432/postgres".to_owned())
}

/// A test's database; dropping it drops the database unless the test is failing.
pub struct TestDb {
    pub pool: PgPool,
    name: String,
    server: PgConnectOptions,
}

impl TestDb {
    /// A name for a database of the test's own that does not exist yet, and the URL of
    /// that database (for a process that is to create it).
    pub fn unused() -> (String, String) {
        let server = PgConnectOptions::from_str(&server_url()).expect("DATABASE_URL parses");
        let name = fresh_name();
        let url = format!(
            "postgres://{}@{}:{}/{name}",
            server.get_username(),
            server.get_host(),
            server.get_port()
        );
        (name, url)
    }

    /// The database `name`, which something else created; dropped like the others.
    pub async fn adopt(name: &str) -> Self {
        let server = PgConnectOptions::from_str(&server_url()).expect("DATABASE_URL parses");
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .idle_timeout(std::time::Duration::from_secs(1))
            .connect_with(server.clone().database(name))
            .await
            .expect("connecting to the adopted database");
        TestDb {
            pool,
            name: name.to_owned(),
            server,
        }
    }

    /// Creates and migrates a new database.
    pub async fn new() -> Self {
        let server = PgConnectOptions::from_str(&server_url()).expect("DATABASE_URL parses");
        let name = fresh_name();
        let mut admin = PgConnection::connect_with(&server)
            .await
            .expect("the test database server answers (scripts/pg-local start)");
        admin
            .execute(format!("create database {name}").as_str())
            .await
            .expect("creating the test database");
        admin.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .idle_timeout(std::time::Duration::from_secs(1))
            .connect_with(server.clone().database(&name))
            .await
            .expect("connecting to the test database");
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .expect("migrating the test database");
        TestDb { pool, name, server }
    }
}

fn fresh_name() -> String {
    format!("lr_test_{}", Uuid::new_v4().simple())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: its database {} is kept", self.name);
            return;
        }
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot block on a future: a thread with
        // a runtime of its own drops the database, ending the connections still open to it.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(async {
                    let mut admin = PgConnection::connect_with(&server).await?;
                    admin
                        .execute(format!("drop database if exists {name} with (force)").as_str())
                        .await
                        .map(|_| ())
                })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}
