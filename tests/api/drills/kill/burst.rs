//! One burst of the kill drill: first activations and `getLicenseAsync` calls all at once, and a
//! `kill -9` once a number of them were answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use rand::seq::SliceRandom;

use super::super::{try_activate, try_callback};
use crate::process::ServerProcess;
use crate::uploads::license_async;

/// One request of a burst.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request {
    /// `POST /v1/activate` of `code` on `fingerprint`.
    Activate { code: String, fingerprint: String },
    /// `getLicenseAsync` of `event` for `instance` on `fingerprint`.
    LicenseAsync {
        instance: String,
        event: String,
        fingerprint: String,
    },
}

/// What a request got before the kill: `None` when it was cut off or never sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The client API's status and license (empty unless 200/201).
    Activated(u16, String),
    /// The callback's `resultCode`.
    Called(String),
}

impl Request {
    /// Sends the request; `None` when no answer came.
    pub async fn send(&self, http: &reqwest::Client, url: &str) -> Option<Answer> {
        match self {
            Self::Activate { code, fingerprint } => try_activate(http, url, code, fingerprint)
                .await
                .map(|(status, license)| Answer::Activated(status, license)),
            Self::LicenseAsync {
                instance,
                event,
                fingerprint,
            } => {
                let body = license_async(instance, event, fingerprint);
                let answer = try_callback(http, url, &body).await?;
                let code = answer["resultCode"].as_str()?.to_owned();
                Some(Answer::Called(code))
            }
        }
    }
}

/// Sends `requests` at once, in random order, and kills the server once `kill_after` of them
/// were answered (or after 30 s). Returns each request with its answer.
pub async fn burst_and_kill(
    http: &reqwest::Client,
    server: &mut ServerProcess,
    mut requests: Vec<Request>,
    kill_after: usize,
) -> Vec<(Request, Option<Answer>)> {
    requests.shuffle(&mut rand::thread_rng());
    let answered = Arc::new(AtomicUsize::new(0));
    let url = server.url.clone();
    let burst = join_all(requests.into_iter().map(|request| {
        let (http, url, answered) = (http.clone(), url.clone(), Arc::clone(&answered));
        async move {
            let answer = request.send(&http, &url).await;
            if answer.is_some() {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            (request, answer)
        }
    }));
    let killer = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while answered.load(Ordering::SeqCst) < kill_after && Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_millis(1)).await;
        }
        server.kill();
    };
    let (results, ()) = futures_util::future::join(burst, killer).await;
    results
}
