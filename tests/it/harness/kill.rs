//! SIGKILL: a replica dying mid-work, as on an OOM kill or a lost node. Nothing it held in
//! memory survives; what it held in the database goes with its session.

use std::time::Duration;

use super::app::TestApp;

impl TestApp {
    /// `kill -KILL` replica `index`, and wait until it is gone.
    pub async fn kill(&mut self, index: usize) {
        let broker = self.broker_mut(index);
        broker.signal("KILL");
        broker.wait_exit(Duration::from_secs(5)).await.expect("replica still running 5 s after SIGKILL");
    }
}
