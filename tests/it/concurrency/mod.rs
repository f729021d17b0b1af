//! "However many callers and replicas ask at once, one vendor token request is made per
//! refresh." The fake answers slowly so that every caller arrives while the first is waiting.

mod one_broker;
mod refresh_stampede;
mod two_replicas;

use std::collections::BTreeSet;

use futures::future::join_all;

use crate::harness::client::TestClient;

/// `GET …/token` from each client at once; every answer must be 200. Returns the distinct
/// access tokens handed out.
pub async fn fetch_all(clients: Vec<TestClient>, id: &str) -> BTreeSet<String> {
    let calls = clients.into_iter().map(|client| {
        let id = id.to_owned();
        tokio::spawn(async move { client.token_resp(&id, None).await })
    });
    let mut tokens = BTreeSet::new();
    for joined in join_all(calls).await {
        let resp = joined.expect("request task");
        tokens.insert(crate::harness::api::access_token_of(&resp.expect(200)));
    }
    tokens
}
