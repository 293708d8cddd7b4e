//! Talking to the koolicense server: blocking HTTP over rustls (certificates always verified),
//! every request bounded by the `timeout_ms` option.

use std::time::Duration;

use koolicense_core::answer::HEADER;
use serde_json::Value;

use crate::answer::SignedAnswer;
use crate::{Error, Status};

/// Largest answer body read; the client API's answers are a few kilobytes.
const MAX_BODY_LEN: u64 = 256 * 1024;

/// The server's base URL.
#[derive(Debug, Clone)]
pub struct Server {
    base: String,
}

impl Server {
    /// Checks `url` (`http://` or `https://` with a host).
    pub fn parse(url: &str) -> Result<Self, Error> {
        let trimmed = url.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(Self {
                base: trimmed.to_owned(),
            }),
            _ => Err(Error::invalid_argument(
                "server_url must be an http:// or https:// URL with a host",
            )),
        }
    }

    fn agent(timeout: Duration) -> ureq::Agent {
        ureq::AgentBuilder::new()
            .timeout(timeout)
            .user_agent(concat!("koolicense-client/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// POSTs `body` to `path` and returns the answer with its signature header; an answer
    /// without one is still returned (and fails verification).
    pub fn post(&self, path: &str, body: &Value, timeout: Duration) -> Result<SignedAnswer, Error> {
        let url = format!("{}{path}", self.base);
        let sent = Self::agent(timeout)
            .post(&url)
            .set("Content-Type", "application/json")
            .send_string(&body.to_string());
        let response = match sent {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(e)) => {
                return Err(Error::new(
                    Status::Network,
                    format!("cannot reach the license server: {e}"),
                ));
            }
        };
        let http_status = response.status();
        let signature = response.header(HEADER).unwrap_or_default().to_owned();
        let body = read_body(response)?;
        Ok(SignedAnswer {
            http_status,
            body,
            signature,
        })
    }

    /// `GET /v1/keys`: the server's public keys document.
    pub fn keys(&self, timeout: Duration) -> Result<String, Error> {
        let url = format!("{}/v1/keys", self.base);
        match Self::agent(timeout).get(&url).call() {
            Ok(response) => read_body(response),
            Err(ureq::Error::Status(code, _)) => Err(Error::new(
                Status::Network,
                format!("the license server answered {code} to GET /v1/keys"),
            )),
            Err(ureq::Error::Transport(e)) => Err(Error::new(
                Status::Network,
                format!("cannot reach the license server: {e}"),
            )),
        }
    }
}

fn read_body(response: ureq::Response) -> Result<String, Error> {
    use std::io::Read;
    let mut body = String::new();
    response
        .into_reader()
        .take(MAX_BODY_LEN)
        .read_to_string(&mut body)
        .map_err(|e| Error::new(Status::Network, format!("cannot read the answer: {e}")))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_need_a_scheme_and_a_host() {
        assert!(Server::parse("https://licenses.example.com/").is_ok());
        assert!(Server::parse("http://127.0.0.1:8080").is_ok());
        for bad in [
            "",
            "licenses.example.com",
            "ftp://x",
            "https://",
            "https://a b",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad}");
        }
        let server = Server::parse("https://x.example/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(server.base, "https://x.example");
    }
}
