//! A man in the middle between the SDK and the server: a rewritten verdict, a replayed answer
//! and a stripped signature each count as no answer, never as a verdict.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use koolicense_client::Status;

use super::{Sdk, status};
use crate::client_api::machine;
use crate::with_sdk;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forwards, and keeps the last answer.
    Pass,
    /// Turns a refusal into a valid verdict.
    Rewrite,
    /// Answers the kept answer again instead of forwarding.
    Replay,
    /// Forwards without the signature header.
    Strip,
}

type Kept = (u16, Option<String>, String);

struct Proxy {
    upstream: String,
    mode: Mutex<Mode>,
    kept: Mutex<Option<Kept>>,
}

async fn forward(req: HttpRequest, body: web::Bytes, proxy: web::Data<Proxy>) -> HttpResponse {
    let mode = *proxy.mode.lock().unwrap();
    let (status, mut signature, mut text) = if mode == Mode::Replay {
        proxy
            .kept
            .lock()
            .unwrap()
            .clone()
            .expect("an answer was kept")
    } else {
        let url = format!("{}{}", proxy.upstream, req.path());
        let response = reqwest::Client::new()
            .post(url)
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let signature = response
            .headers()
            .get("Koolicense-Signature")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, signature, response.text().await.unwrap())
    };
    match mode {
        Mode::Pass => *proxy.kept.lock().unwrap() = Some((status, signature.clone(), text.clone())),
        Mode::Rewrite => {
            text = text
                .replace("\"FROZEN\"", "\"VALID\"")
                .replace("\"valid\":false", "\"valid\":true")
                .replace("\"total\":2", "\"total\":20");
        }
        Mode::Strip => signature = None,
        Mode::Replay => {}
    }
    let mut answer = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(signature) = signature {
        answer.insert_header(("Koolicense-Signature", signature));
    }
    answer.content_type("application/json").body(text)
}

fn start_proxy(upstream: &str) -> (String, web::Data<Proxy>) {
    let proxy = web::Data::new(Proxy {
        upstream: upstream.to_owned(),
        mode: Mutex::new(Mode::Pass),
        kept: Mutex::new(None),
    });
    let shared = proxy.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .default_service(web::to(forward))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (url, proxy)
}

with_sdk!(a_man_in_the_middle_gets_nothing, |sdk: Sdk| async move {
    sdk.market.add_code("PLSDKMITM00001", 2).await;
    let (proxy_url, proxy) = start_proxy(&sdk.market.app.address);
    let set = |mode| *proxy.mode.lock().unwrap() = mode;
    let direct = sdk.client("mitm", 1);
    let through = sdk.client_of(Some(&proxy_url), "mitm", &machine(1));
    assert_eq!(
        status(&call!(direct, |c| c.activate("PLSDKMITM00001"))),
        Status::Ok
    );
    assert_eq!(
        status(&call!(through, |c| c.check_in())),
        Status::Ok,
        "the proxy forwards"
    );

    sdk.freeze("PLSDKMITM00001", "FREEZE").await;
    // FROZEN rewritten into VALID: the signature no longer holds.
    set(Mode::Rewrite);
    assert_eq!(status(&call!(through, |c| c.check_in())), Status::Network);
    assert_eq!(status(&call!(direct, |c| c.check_in())), Status::Frozen);
    assert_eq!(status(&call!(through, |c| c.check_in())), Status::Network);
    assert_eq!(
        status(&call!(through, |c| c.check())),
        Status::Frozen,
        "the forged VALID was not kept"
    );

    // The server's own earlier VALID answer, replayed: signed, but not for this request.
    set(Mode::Replay);
    assert_eq!(status(&call!(through, |c| c.check_in())), Status::Network);
    assert_eq!(status(&call!(through, |c| c.check())), Status::Frozen);

    // No signature at all.
    set(Mode::Strip);
    assert_eq!(status(&call!(through, |c| c.check_in())), Status::Network);
    assert_eq!(status(&call!(through, |c| c.is_genuine())), Status::Frozen);

    // An activation whose answer was tampered with stores nothing.
    sdk.freeze("PLSDKMITM00001", "UNFREEZE").await;
    set(Mode::Rewrite);
    let other = sdk.client_of(Some(&proxy_url), "other", &machine(2));
    assert_eq!(
        status(&call!(other, |c| c.activate("PLSDKMITM00001"))),
        Status::Network
    );
    assert_eq!(status(&call!(other, |c| c.check())), Status::NotActivated);
    let _keep = Arc::clone(&proxy);
});
