//! Continuous load: tasks that call `GET …/token` back to back until stopped, each answer
//! recorded with when it was asked and answered. A lean client of its own (no transcript), so
//! tens of thousands of answers cost little memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

/// Who calls what: one task per target.
#[derive(Clone, Debug)]
pub struct Target {
    pub broker: usize,
    pub base_url: String,
    pub key: String,
    pub connection: String,
    pub min_ttl: u64,
}

#[derive(Clone, Debug)]
pub struct Answer {
    pub broker: usize,
    pub connection: String,
    pub asked: Instant,
    pub answered: Instant,
    pub answered_at: DateTime<Utc>,
    /// 0 when no HTTP answer came at all (`error` says why).
    pub status: u16,
    pub code: Option<String>,
    pub access_token: Option<String>,
    pub expires_at: Option<String>,
    pub retry_after: Option<String>,
    pub error: Option<String>,
}

impl Answer {
    /// One line for a failure message; never more than the token's first characters.
    pub fn describe(&self) -> String {
        format!(
            "broker {} {} → {} {:?} (asked→answered {:?}){}",
            self.broker,
            self.connection,
            self.status,
            self.code,
            self.answered - self.asked,
            self.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
        )
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    pub fn start(targets: &[Target]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
        let tasks = targets
            .iter()
            .cloned()
            .map(|target| {
                let (stop, answers) = (Arc::clone(&stop), Arc::clone(&answers));
                tokio::spawn(async move { run(target, &stop, &answers).await })
            })
            .collect();
        Load { stop, answers, tasks }
    }

    /// The answers so far, in the order they came.
    pub fn snapshot(&self) -> Vec<Answer> {
        self.answers.lock().unwrap().clone()
    }

    /// Stops every task after its current request and returns all answers, oldest asked first.
    pub async fn stop(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("load task");
        }
        let mut answers = std::mem::take(&mut *self.answers.lock().unwrap());
        answers.sort_by_key(|a| a.asked);
        answers
    }
}

async fn run(target: Target, stop: &AtomicBool, answers: &Mutex<Vec<Answer>>) {
    let http = reqwest::Client::builder()
        .no_proxy()
        // Past the broker's own request timeout: the broker, not this client, must end a request.
        .timeout(Duration::from_secs(40))
        .build()
        .expect("reqwest client");
    let url = format!("{}/v1/connections/{}/token?min_ttl={}", target.base_url, target.connection, target.min_ttl);
    while !stop.load(Ordering::SeqCst) {
        let answer = ask(&http, &url, &target).await;
        answers.lock().unwrap().push(answer);
        // Back to back, but let the fake vendor and other tasks of this process run.
        tokio::task::yield_now().await;
    }
}

async fn ask(http: &reqwest::Client, url: &str, target: &Target) -> Answer {
    let asked = Instant::now();
    let result = http.get(url).bearer_auth(&target.key).send().await;
    let mut answer = Answer {
        broker: target.broker,
        connection: target.connection.clone(),
        asked,
        answered: asked,
        answered_at: Utc::now(),
        status: 0,
        code: None,
        access_token: None,
        expires_at: None,
        retry_after: None,
        error: None,
    };
    match result {
        Err(err) => answer.error = Some(format!("{err:?}")),
        Ok(resp) => {
            answer.status = resp.status().as_u16();
            answer.retry_after =
                resp.headers().get("retry-after").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            match resp.json::<serde_json::Value>().await {
                Ok(body) => {
                    let text = |name: &str| body[name].as_str().map(str::to_owned);
                    answer.code = text("code");
                    answer.access_token = text("access_token");
                    answer.expires_at = text("expires_at");
                }
                Err(err) => answer.error = Some(format!("body is not JSON: {err}")),
            }
        }
    }
    answer.answered = Instant::now();
    answer.answered_at = Utc::now();
    answer
}

/// Targets for `tasks` tasks spread round-robin over `brokers` (base URLs), all with `key`.
pub fn spread(brokers: &[String], tasks: usize, key: &str, connection: &str, min_ttl: u64) -> Vec<Target> {
    (0..tasks)
        .map(|i| Target {
            broker: i % brokers.len(),
            base_url: brokers[i % brokers.len()].clone(),
            key: key.to_owned(),
            connection: connection.to_owned(),
            min_ttl,
        })
        .collect()
}
