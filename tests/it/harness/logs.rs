//! Everything a broker process writes, kept line by line. The secrecy tests search all of it,
//! and every start-up failure shows it, so nothing is dropped or filtered.

use std::io::{BufRead as _, BufReader, Read};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Clone, Debug)]
pub struct LogLine {
    pub stream: Stream,
    pub text: String,
}

impl LogLine {
    /// The line as JSON, when it is one (`TOKENBROKER_LOG_FORMAT=json` on stdout).
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.text).ok()
    }
}

#[derive(Clone, Default)]
pub struct Logs {
    lines: Arc<Mutex<Vec<LogLine>>>,
}

impl Logs {
    /// Reads `source` to its end on a thread of its own, so a chatty process never blocks on a
    /// full pipe and lines are there even after the process died.
    pub fn capture(&self, stream: Stream, source: impl Read + Send + 'static) -> JoinHandle<()> {
        let lines = Arc::clone(&self.lines);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(source);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']).to_owned();
                        lines.lock().unwrap().push(LogLine { stream, text });
                    }
                }
            }
        })
    }

    pub fn lines(&self) -> Vec<LogLine> {
        self.lines.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.of(Stream::Stderr)
    }

    pub fn stdout(&self) -> Vec<String> {
        self.of(Stream::Stdout)
    }

    fn of(&self, stream: Stream) -> Vec<String> {
        self.lines().into_iter().filter(|l| l.stream == stream).map(|l| l.text).collect()
    }

    /// The address from the `listening` line that decisions.md promises.
    pub fn listening_addr(&self) -> Option<String> {
        self.lines().iter().find_map(|line| {
            let json = line.json()?;
            let fields = json.get("fields")?;
            if fields.get("message")?.as_str()? != "listening" {
                return None;
            }
            Some(fields.get("addr")?.as_str()?.to_owned())
        })
    }

    /// All output, for failure messages.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for line in self.lines() {
            let tag = match line.stream {
                Stream::Stdout => "out",
                Stream::Stderr => "err",
            };
            out.push_str(tag);
            out.push_str("| ");
            out.push_str(&line.text);
            out.push('\n');
        }
        out
    }
}
