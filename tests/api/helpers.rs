//! `spawn_app()` and friends: a real server on a fresh database per test.

use std::collections::HashMap;

use diesel::prelude::*;
use koolicense::config::Settings;
use koolicense::startup::Application;

/// Which database a test body runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one async test body against both backends: `both_backends!(name, |app| async move {..})`
/// expands to `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    (@backend $name:ident, $body:expr) => {
        mod $name {
            #[expect(
                clippy::allow_attributes,
                reason = "a body may or may not use its module's items"
            )]
            #[allow(unused_imports)]
            use super::*;

            #[actix_web::test]
            async fn sqlite() {
                ($body)($crate::helpers::Backend::Sqlite).await;
            }

            #[actix_web::test]
            async fn postgres() {
                ($body)($crate::helpers::Backend::Postgres).await;
            }
        }
    };
    ($name:ident, $body:expr) => {
        mod $name {
            #[expect(
                clippy::allow_attributes,
                reason = "a body may or may not use its module's items"
            )]
            #[allow(unused_imports)]
            use super::*;

            #[actix_web::test]
            async fn sqlite() {
                let app = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await;
                ($body)(app).await;
            }

            #[actix_web::test]
            async fn postgres() {
                let app = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await;
                ($body)(app).await;
            }
        }
    };
}

/// The PostgreSQL server tests create their databases on (`TEST_POSTGRES_URL`).
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database made for one test, dropped when the test ends.
pub struct TestDatabase {
    pub url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDatabase {
    pub fn create(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => {
                let path = dir.path().join("koolicense.db");
                Self {
                    url: format!("sqlite://{}", path.display()),
                    pg_name: None,
                    _dir: dir,
                }
            }
            Backend::Postgres => {
                let name = format!("kl_test_{}", uuid::Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let mut conn = koolicense::db::establish_postgres(&admin)
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed for tests: {e}"));
                diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .unwrap();
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                Self {
                    url: format!("{base}/{name}"),
                    pg_name: Some(name),
                    _dir: dir,
                }
            }
        }
    }
}

impl TestDatabase {
    /// A connection of the test's own, to look at what a server stored.
    pub fn connect(&self) -> koolicense::db::DbConn {
        use diesel::connection::SimpleConnection;
        use koolicense::db::{DatabaseUrl, DbConn};
        match DatabaseUrl::parse(&self.url).unwrap() {
            DatabaseUrl::Postgres(pg) => {
                DbConn::Postgres(koolicense::db::establish_postgres(pg.expose()).unwrap())
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path).unwrap();
                conn.batch_execute("PRAGMA busy_timeout = 10000;").unwrap();
                DbConn::Sqlite(conn)
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut conn) = koolicense::db::establish_postgres(&postgres_admin_url()) {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut conn);
            }
        }
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    pub keys_dir: tempfile::TempDir,
}

/// Settings for a test server: port 0, its own database and key directory, plus `extra`.
pub fn test_settings(
    db: &TestDatabase,
    keys_dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> Settings {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("KOOLICENSE_LISTEN".into(), "127.0.0.1:0".into());
    env.insert("KOOLICENSE_DATABASE_URL".into(), db.url.clone());
    env.insert("KOOLICENSE_KEYS_DIR".into(), keys_dir.display().to_string());
    env.insert("KOOLICENSE_DB_POOL_SIZE".into(), "8".into());
    env.insert("KOOLICENSE_HTTP_WORKERS".into(), "2".into());
    env.insert(
        "KOOLICENSE_ACCESS_KEY".into(),
        crate::callers::ACCESS_KEY.into(),
    );
    // An empty value in `extra` unsets a default.
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_sources(env, None).unwrap()
}

/// Starts a server on a fresh database of `backend`.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// Starts a server on a fresh database of `backend` with extra settings.
pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let db = TestDatabase::create(backend);
    let keys_dir = tempfile::tempdir().unwrap();
    let settings = test_settings(&db, keys_dir.path(), extra);
    let app = Application::build(settings).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        db,
        keys_dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// A `getLicenseAsync` time (`yyyy-MM-dd HH:mm:ss z`, UTC) `days` from today's midnight, so that
/// periods in tests are relative to when they run.
pub fn license_time(days: i64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::days(days))
        .format("%Y-%m-%d 00:00:00 z")
        .to_string()
}
