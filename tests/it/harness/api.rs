//! The contract's operations as one-line calls, each asserting the documented success status.

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Resp, TestClient};

impl TestClient {
    pub async fn create_principal(&self, id: &str, role: &str) -> Value {
        self.post("/v1/principals", &json!({"id": id, "role": role, "description": format!("{id} for tests")}), 201)
            .await
    }

    /// A new API key for `principal`; returns the whole 201 body.
    pub async fn create_key_view(&self, principal: &str, body: Option<&Value>) -> Value {
        let path = format!("/v1/principals/{principal}/keys");
        let req = self.raw(Method::POST, &path);
        let req = match body {
            Some(b) => req.json(b),
            None => req,
        };
        req.send().await.expect(201)
    }

    /// A new API key for `principal`: the secret `tbk_…` string.
    pub async fn create_key(&self, principal: &str) -> String {
        let view = self.create_key_view(principal, None).await;
        view["api_key"].as_str().unwrap_or_else(|| panic!("key creation answered without api_key: {view}")).to_owned()
    }

    pub async fn revoke_key(&self, principal: &str, key_id: &str) {
        self.delete(&format!("/v1/principals/{principal}/keys/{key_id}"), 204).await;
    }

    pub async fn put_grant(&self, principal: &str, pattern: &str) {
        self.raw(Method::PUT, &format!("/v1/principals/{principal}/grants/{pattern}")).send().await.expect(204);
    }

    pub async fn delete_grant(&self, principal: &str, pattern: &str) {
        self.delete(&format!("/v1/principals/{principal}/grants/{pattern}"), 204).await;
    }

    pub async fn create_connection(&self, body: &Value) -> Value {
        self.post("/v1/connections", body, 201).await
    }

    pub async fn connection(&self, id: &str) -> Value {
        self.get(&format!("/v1/connections/{id}"), 200).await
    }

    pub async fn patch_connection(&self, id: &str, body: &Value) -> Value {
        self.patch(&format!("/v1/connections/{id}"), body, 200).await
    }

    pub async fn put_secrets(&self, id: &str, secrets: &Value) -> Value {
        self.put(&format!("/v1/connections/{id}/secrets"), &json!({ "secrets": secrets }), 200).await
    }

    /// `GET …/token`, whatever the answer.
    pub async fn token_resp(&self, id: &str, min_ttl: Option<&str>) -> Resp {
        let path = match min_ttl {
            Some(t) => format!("/v1/connections/{id}/token?min_ttl={t}"),
            None => format!("/v1/connections/{id}/token"),
        };
        self.raw(Method::GET, &path).send().await
    }

    /// `GET …/token` expecting 200; returns the body.
    pub async fn token(&self, id: &str) -> Value {
        self.token_resp(id, None).await.expect(200)
    }

    /// The access token alone, for the many tests that only compare tokens.
    pub async fn access_token(&self, id: &str) -> String {
        access_token_of(&self.token(id).await)
    }

    pub async fn access_token_min_ttl(&self, id: &str, min_ttl: u64) -> String {
        let body = self.token_resp(id, Some(&min_ttl.to_string())).await.expect(200);
        access_token_of(&body)
    }

    /// `POST …/token/refresh`; `rejected` `None` sends no body at all.
    pub async fn refresh_resp(&self, id: &str, rejected: Option<&str>) -> Resp {
        let req = self.raw(Method::POST, &format!("/v1/connections/{id}/token/refresh"));
        let req = match rejected {
            Some(token) => req.json(&json!({ "rejected_access_token": token })),
            None => req,
        };
        req.send().await
    }

    pub async fn refresh(&self, id: &str, rejected: Option<&str>) -> String {
        access_token_of(&self.refresh_resp(id, rejected).await.expect(200))
    }
}

pub fn access_token_of(body: &Value) -> String {
    body["access_token"].as_str().unwrap_or_else(|| panic!("token answer without access_token: {body}")).to_owned()
}

impl TestClient {
    /// Every audit event matching `filter` (e.g. `action=grant.put`), following `next_cursor`.
    pub async fn audit_events(&self, filter: &[(&str, &str)]) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        for _page in 0..1000 {
            let mut query: Vec<(&str, &str)> = filter.to_vec();
            query.push(("limit", "50"));
            if let Some(c) = &cursor {
                query.push(("cursor", c));
            }
            let qs = serde_urlencoded::to_string(&query).expect("query string");
            let page = self.get(&format!("/v1/audit?{qs}"), 200).await;
            let batch = page["events"].as_array().unwrap_or_else(|| panic!("expected {{\"events\": […]}}: {page}"));
            events.extend(batch.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) if !batch.is_empty() => cursor = Some(next.to_owned()),
                _ => return events,
            }
        }
        panic!("audit pagination did not end after 1000 pages");
    }
}
