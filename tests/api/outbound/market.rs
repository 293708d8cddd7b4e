//! A fake marketplace for the client and outbox tests: it checks APIG signatures with
//! `apig::verify`, parses multipart uploads, answers from a script and records every request.
//! (The full simulator, `koolicense sim serve`, plays the real marketplace elsewhere.)

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use koolicense::db::Pool;
use koolicense::db::models::marketplace_calls::{self, CallFilter, MarketplaceCall};
use koolicense::koogallery::apig;
use koolicense::koogallery::client::MarketplaceClient;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestDatabase, test_settings};

pub const AK: &str = "test-ak";
pub const SK: &str = "test-sk";

/// What the fake marketplace answers next.
#[derive(Clone)]
pub enum Canned {
    Json(u16, Value),
    Status(u16),
    /// Sleeps, then answers an empty 200 (the client should have given up by then).
    Slow(Duration),
}

/// A multipart part as the fake marketplace parsed it.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// A request as the fake marketplace saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub body: Vec<u8>,
    pub signature: Result<String, apig::ApigError>,
    pub parts: Vec<Part>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A fake marketplace: answers from a script (the last answer repeats), records requests, and
/// refuses bad signatures with `APIGW.0301` as the gateway does.
pub struct Market {
    pub url: String,
    answers: Mutex<VecDeque<Canned>>,
    seen: Mutex<Vec<Seen>>,
}

impl Market {
    pub fn start(answers: Vec<Canned>) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let market = Arc::new(Self {
            url,
            answers: Mutex::new(answers.into()),
            seen: Mutex::new(Vec::new()),
        });
        let data = web::Data::from(Arc::clone(&market));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(answer))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        market
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn next(&self) -> Canned {
        let mut answers = self.answers.lock().unwrap();
        if answers.len() > 1 {
            answers.pop_front()
        } else {
            answers.front().cloned()
        }
        .unwrap_or(Canned::Status(404))
    }
}

async fn answer(req: HttpRequest, body: web::Bytes, market: web::Data<Market>) -> HttpResponse {
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let signature = apig::verify(
        |ak| (ak == AK).then(|| SK.to_owned()),
        req.method().as_str(),
        req.uri().path(),
        req.uri().query(),
        &headers,
        &body,
        chrono::Utc::now(),
    );
    let parts = parse_multipart(&req, &body).await;
    let refused = signature.as_ref().err().map(apig::ApigError::code);
    market.seen.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().map(str::to_owned),
        body: body.to_vec(),
        signature,
        parts,
    });
    if let Some(code) = refused {
        return HttpResponse::Unauthorized().json(json!({"error_code": code, "error_msg": "bad"}));
    }
    match market.next() {
        Canned::Json(status, value) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(value)
        }
        Canned::Status(status) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
        }
        Canned::Slow(wait) => {
            actix_web::rt::time::sleep(wait).await;
            HttpResponse::Ok().finish()
        }
    }
}

async fn parse_multipart(req: &HttpRequest, body: &web::Bytes) -> Vec<Part> {
    let is_multipart = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        return Vec::new();
    }
    let bytes = body.clone();
    let stream = futures_util::stream::once(async move { Ok(bytes) });
    let mut multipart = actix_multipart::Multipart::new(req.headers(), stream);
    let mut parts = Vec::new();
    while let Some(field) = multipart.next().await {
        let mut field = field.unwrap();
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            data.extend_from_slice(&chunk.unwrap());
        }
        parts.push(Part {
            name,
            file_name,
            content_type,
            data,
        });
    }
    parts
}

/// A client for `primary` (and `fallback`) with a fresh SQLite journal.
pub struct Harness {
    pub client: MarketplaceClient,
    pub pool: Pool,
    _db: TestDatabase,
    _keys: tempfile::TempDir,
}

impl Harness {
    pub fn new(backend: Backend, primary: &str, fallback: &str, extra: &[(&str, &str)]) -> Self {
        let db = TestDatabase::create(backend);
        let keys = tempfile::tempdir().unwrap();
        let mut env = vec![
            ("KOOLICENSE_APIG_AK", AK),
            ("KOOLICENSE_APIG_SK", SK),
            ("KOOLICENSE_MARKETPLACE_URL", primary),
            ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", fallback),
            ("KOOLICENSE_MARKETPLACE_TIMEOUT_MS", "3000"),
        ];
        env.extend_from_slice(extra);
        let settings = test_settings(&db, keys.path(), &env);
        let pool = koolicense::startup::open_database(&settings).unwrap();
        let client = MarketplaceClient::new(&settings, pool.clone()).unwrap();
        Self {
            client,
            pool,
            _db: db,
            _keys: keys,
        }
    }

    pub fn journal(&self) -> Vec<MarketplaceCall> {
        let mut conn = self.pool.get().unwrap();
        marketplace_calls::list(
            &mut conn,
            &CallFilter {
                limit: 100,
                ..CallFilter::default()
            },
        )
        .unwrap()
    }
}
