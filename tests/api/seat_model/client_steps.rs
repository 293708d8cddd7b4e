//! The client-API steps: activate, check in, deactivate.

use serde_json::Value;

use super::driver::{Checked, World, brief, ensure, now, payload_time, refused, seats, time_json};
use super::model::{Activation, Binding, Code};
use crate::client_api::machine;

impl World {
    pub(super) async fn activate(&self, code: &mut Code, m: usize) -> Checked {
        let fingerprint = machine(m);
        let expected = code.activation(m, now());
        let reply = self.client.activate(&code.name, &fingerprint).await;
        match expected {
            Activation::Refused(refusal) => refused(reply.status, &reply.body, refusal, "activate"),
            Activation::Repeat => {
                let bound = &code.live[&m];
                ensure!(
                    reply.status == 200,
                    "a repeat answered {} {}",
                    reply.status,
                    brief(&reply.body)
                );
                ensure!(
                    reply.body["license"] == bound.file.as_str(),
                    "a repeat returned other license bytes"
                );
                ensure!(
                    reply.body["license_id"] == bound.license_id.as_str(),
                    "{}",
                    brief(&reply.body)
                );
                ensure!(
                    reply.body["expires_at"] == time_json(bound.expires_at),
                    "{}",
                    brief(&reply.body)
                );
                seats(&reply.body, (code.live.len() as i64, code.seats))
            }
            Activation::New => {
                code.marketplace_activated();
                ensure!(
                    reply.status == 201,
                    "a new binding answered {} {}",
                    reply.status,
                    brief(&reply.body)
                );
                ensure!(reply.body["status"] == "ACTIVE", "{}", brief(&reply.body));
                ensure!(
                    reply.body["expires_at"] == time_json(code.expiry),
                    "{}",
                    brief(&reply.body)
                );
                seats(&reply.body, (code.live.len() as i64 + 1, code.seats))?;
                let file = reply.license().to_owned();
                let payload = self.client.app.verify_license(&file, Some(&fingerprint));
                let license_id = reply.body["license_id"].as_str().unwrap_or("").to_owned();
                ensure!(
                    payload["license_id"] == license_id.as_str() && payload["revision"] == 1,
                    "{payload}"
                );
                ensure!(
                    payload["seats"] == code.seats
                        && payload["expires_at"] == time_json(code.expiry),
                    "{payload}"
                );
                let not_before = payload_time(&payload, "not_before")?;
                code.bind(
                    m,
                    Binding {
                        license_id,
                        file,
                        expires_at: code.expiry,
                        not_before,
                    },
                );
                Ok(())
            }
        }
    }

    pub(super) async fn check_in(&self, code: &mut Code, m: usize) -> Checked {
        let fingerprint = machine(m);
        let expected = code.check_in(m, now());
        let reply = self.client.check_in(&code.name, &fingerprint).await;
        ensure!(
            reply.status == 200,
            "{} {}",
            reply.status,
            brief(&reply.body)
        );
        let verdict = (reply.body["status"].as_str(), reply.body["valid"].as_bool());
        ensure!(
            verdict == (Some(expected.status), Some(expected.status == "VALID")),
            "expected {expected:?}, got {}",
            brief(&reply.body)
        );
        ensure!(
            reply.body["expires_at"] == time_json(expected.expires_at),
            "expected {expected:?}, got {}",
            brief(&reply.body)
        );
        let renewed = reply.body.get("license").and_then(Value::as_str);
        ensure!(
            renewed.is_some() == expected.renews,
            "expected {expected:?}, got {}",
            brief(&reply.body)
        );
        if let Some(file) = renewed {
            let payload = self.client.app.verify_license(file, Some(&fingerprint));
            let expiry = code.expiry;
            let bound = code.live.get_mut(&m).expect("only a bound machine renews");
            let state = code
                .licenses
                .get_mut(&bound.license_id)
                .expect("its license is known");
            state.revision += 1;
            ensure!(
                payload["license_id"] == bound.license_id.as_str()
                    && payload["revision"] == state.revision,
                "{payload}"
            );
            ensure!(payload["expires_at"] == time_json(expiry), "{payload}");
            ensure!(
                payload_time(&payload, "not_before")? == bound.not_before,
                "{payload}"
            );
            file.clone_into(&mut bound.file);
            bound.expires_at = expiry;
        }
        Ok(())
    }

    pub(super) async fn deactivate(&self, code: &mut Code, m: usize) -> Checked {
        let reply = self.client.deactivate(&code.name, &machine(m)).await;
        match code.deactivation(m) {
            Err(refusal) => refused(reply.status, &reply.body, refusal, "deactivate"),
            Ok(after) => {
                ensure!(
                    reply.status == 200 && reply.body["deactivated"] == true,
                    "{} {}",
                    reply.status,
                    brief(&reply.body)
                );
                seats(&reply.body, after)?;
                code.live.remove(&m);
                code.client_deactivations += 1;
                Ok(())
            }
        }
    }
}
