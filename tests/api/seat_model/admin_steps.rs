//! The admin-API steps (support resets, revocations) and the end-of-case comparison of the
//! server's view of a code with the model's.

use koolicense::domain::fingerprint::sha256_hex_of_normalised;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::driver::{Checked, World, ensure, parse_rfc3339, refused, seats};
use super::model::Code;
use crate::client_api::machine;

impl World {
    pub(super) async fn reset(&self, code: &mut Code, m: usize) -> Checked {
        let expected = code.reset(m);
        let id = match expected {
            Err((404, _)) => uuid::Uuid::new_v4().to_string(),
            _ => self.latest_activation(code, m, expected.is_ok()).await?,
        };
        let reply = self
            .client
            .app
            .admin_delete(
                &self.admin,
                &format!("/admin/v1/activations/{id}?reason=seat+model"),
            )
            .await;
        match expected {
            Err(refusal) => refused(reply.status, &reply.body, refusal, "reset"),
            Ok(after) => {
                ensure!(
                    reply.status == 200 && reply.body["activation"]["live"] == false,
                    "{} {}",
                    reply.status,
                    reply.body
                );
                seats(&reply.body, after)?;
                code.live.remove(&m);
                Ok(())
            }
        }
    }

    /// The id of the machine's live binding (`live`), or of its latest freed one.
    pub(super) async fn latest_activation(
        &self,
        code: &Code,
        m: usize,
        live: bool,
    ) -> Result<String, TestCaseError> {
        let detail = self.detail(code).await?;
        let sha = sha256_hex_of_normalised(&machine(m));
        let mut mine: Vec<&Value> = detail["activations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["fingerprint_sha256"] == sha.as_str())
            .collect();
        mine.sort_by_key(|a| a["created_at"].as_str().unwrap_or("").to_owned());
        let lives = mine.iter().filter(|a| a["live"] == true).count();
        ensure!(
            lives == usize::from(live),
            "machine {m} has {lives} live bindings on the server"
        );
        let chosen = if live {
            mine.iter().find(|a| a["live"] == true)
        } else {
            mine.last()
        };
        Ok(chosen
            .and_then(|a| a["id"].as_str())
            .unwrap_or_default()
            .to_owned())
    }

    pub(super) async fn revoke(&self, code: &mut Code, m: usize, revoke: bool) -> Checked {
        let Some(expected) = code.set_revoked(m, revoke) else {
            return Ok(());
        };
        let id = code.latest_license[&m].clone();
        let action = if revoke { "revoke" } else { "reinstate" };
        let path = format!("/admin/v1/licenses/{id}/{action}");
        let reply = self
            .client
            .app
            .admin_post(&self.admin, &path, &json!({"reason": "seat model"}))
            .await;
        if let Err(refusal) = expected {
            return refused(reply.status, &reply.body, refusal, action);
        }
        ensure!(
            reply.status == 200 && reply.body["revoked"] == revoke,
            "{} {}",
            reply.status,
            reply.body
        );
        code.licenses.get_mut(&id).expect("a known license").revoked = revoke;
        Ok(())
    }

    pub(super) async fn detail(&self, code: &Code) -> Result<Value, TestCaseError> {
        let reply = self
            .client
            .app
            .admin_get(&self.admin, &format!("/admin/v1/codes/{}", code.name))
            .await;
        ensure!(
            reply.status == 200,
            "admin view of {}: {} {}",
            code.name,
            reply.status,
            reply.body
        );
        Ok(reply.body)
    }

    /// The server's view of the code (admin API) against the model's.
    pub(super) async fn compare_state(&self, code: &Code) -> Checked {
        if !code.known {
            let reply = self
                .client
                .app
                .admin_get(&self.admin, &format!("/admin/v1/codes/{}", code.name))
                .await;
            ensure!(
                reply.status == 404,
                "{} should be unknown: {}",
                code.name,
                reply.body
            );
            return Ok(());
        }
        let detail = self.detail(code).await?;
        let summary = &detail["code"];
        let facts = (
            summary["status"].as_str(),
            summary["frozen"].as_bool(),
            summary["activated"].as_bool(),
        );
        ensure!(
            facts
                == (
                    Some(code.status.wire()),
                    Some(code.frozen),
                    Some(code.activated)
                ),
            "{}: {summary}",
            code.name
        );
        ensure!(
            summary["seats"]["used"] == code.live.len() as i64,
            "{}: {summary}",
            code.name
        );
        ensure!(
            !code.activated || summary["seats"]["total"] == code.seats,
            "{}: {summary}",
            code.name
        );
        let expires_at = summary["expires_at"].as_str().map(parse_rfc3339);
        ensure!(
            expires_at == code.expiry.map(Some),
            "{}: {summary}",
            code.name
        );
        let activations = detail["activations"].as_array().map_or(0, Vec::len);
        ensure!(
            activations == code.bindings_made,
            "{}: {activations} bindings made, model {}",
            code.name,
            code.bindings_made
        );
        let licenses = detail["licenses"].as_array().cloned().unwrap_or_default();
        ensure!(
            licenses.len() == code.licenses.len(),
            "{}: {} licenses",
            code.name,
            licenses.len()
        );
        for license in &licenses {
            let id = license["id"].as_str().unwrap_or("");
            let state = code.licenses.get(id);
            let got = (license["revoked"].as_bool(), license["revision"].as_i64());
            ensure!(
                state.is_some_and(|s| got == (Some(s.revoked), Some(s.revision))),
                "license {id}: {got:?}, model {state:?}"
            );
        }
        Ok(())
    }
}
