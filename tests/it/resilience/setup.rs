//! The usual starting point: the rotating vendor, `replicas` broker processes on one database
//! with the given settings, and a service key allowed every connection.

use crate::harness::TestApp;
use crate::harness::client::TestClient;
use crate::harness::db::Backend;
use crate::harness::setup::{replicas_with_service, replicas_with_service_on};

use super::rotating_vendor::RotatingVendor;

pub struct Rig {
    pub app: TestApp,
    pub vendor: RotatingVendor,
    /// A service principal's API key, granted `*`.
    pub key: String,
}

impl Rig {
    pub async fn start(replicas: usize, settings: &[(&str, &str)]) -> Rig {
        let vendor = RotatingVendor::start().await;
        let (app, key) = replicas_with_service(replicas, settings).await;
        Rig { app, vendor, key }
    }

    /// On PostgreSQL whatever the suite's backend: for what only it has (foreign row locks).
    pub async fn start_on_postgres(replicas: usize, settings: &[(&str, &str)]) -> Rig {
        let vendor = RotatingVendor::start().await;
        let (app, key) = replicas_with_service_on(Backend::Postgres, replicas, settings).await;
        Rig { app, vendor, key }
    }

    /// The service, talking to replica `index`.
    pub fn svc(&self, index: usize) -> TestClient {
        self.app.client_on(index, Some(&self.key))
    }

    pub fn base_urls(&self, replicas: usize) -> Vec<String> {
        (0..replicas).map(|i| self.app.broker(i).base_url()).collect()
    }
}
