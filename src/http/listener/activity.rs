//! What one connection is doing, as seen from its socket and from the application: the
//! deadlines of the idle and header-read timeouts, and whether hyper is idle enough to hand
//! the connection back (so its buffers can be freed while the client thinks).
//!
//! Everything here is touched from the connection's own task only (hyper polls the service,
//! the bodies and the socket inside the connection future), so relaxed atomics suffice; they
//! are atomics only because hyper wants its parts `Send`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

const NONE: u64 = u64::MAX;

/// How long a connection stays parked in hyper after its last exchange before its buffers
/// are given back. Short enough that idle connections cost little, long enough that a client
/// sending request after request keeps one hyper connection (and its buffers) throughout.
pub(super) const PARK_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    pub idle: Duration,
    pub header_read: Duration,
}

/// What the connection's watchdog should do next, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// A request is with the application: its own timeout bounds it.
    Wait,
    /// Hand the socket back from hyper at this time (nothing is in progress).
    Park(Instant),
    /// Close at this time (idle too long, or headers too slow).
    Close(Instant, Expired),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expired {
    Idle,
    HeaderRead,
}

impl Expired {
    pub fn label(self) -> &'static str {
        match self {
            Expired::Idle => "idle_timeout",
            Expired::HeaderRead => "header_read_timeout",
        }
    }
}

pub(super) struct Activity {
    origin: Instant,
    /// A request is with the application (its response is not produced yet).
    busy: AtomicBool,
    request_body_open: AtomicBool,
    response_body_open: AtomicBool,
    /// The last write-side call on the socket was a completed flush: hyper holds no
    /// unwritten bytes.
    flushed: AtomicBool,
    /// Milliseconds since `origin` of the first byte of request headers not yet complete.
    head_started: AtomicU64,
    /// Milliseconds since `origin` of the last byte moved either way, or of the last response.
    last_progress: AtomicU64,
}

impl Activity {
    pub fn new() -> Activity {
        Activity {
            origin: Instant::now(),
            busy: AtomicBool::new(false),
            request_body_open: AtomicBool::new(false),
            response_body_open: AtomicBool::new(false),
            flushed: AtomicBool::new(true),
            head_started: AtomicU64::new(NONE),
            last_progress: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, millis: u64, after: Duration) -> Instant {
        self.origin + Duration::from_millis(millis) + after
    }

    fn in_exchange(&self) -> bool {
        self.busy.load(Relaxed) || self.response_body_open.load(Relaxed)
    }

    pub fn on_read(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let now = self.now();
        self.last_progress.store(now, Relaxed);
        // Bytes outside an exchange start the next request's headers.
        if !self.in_exchange() && self.head_started.load(Relaxed) == NONE {
            self.head_started.store(now, Relaxed);
        }
    }

    pub fn on_write(&self, bytes: usize) {
        self.flushed.store(false, Relaxed);
        if bytes > 0 {
            self.last_progress.store(self.now(), Relaxed);
        }
    }

    pub fn on_flushed(&self) {
        self.flushed.store(true, Relaxed);
    }

    /// hyper has a complete request head and calls the application.
    pub fn request_started(&self, has_body: bool) {
        self.busy.store(true, Relaxed);
        self.head_started.store(NONE, Relaxed);
        self.request_body_open.store(has_body, Relaxed);
    }

    pub fn request_body_ended(&self) {
        self.request_body_open.store(false, Relaxed);
    }

    pub fn response_ready(&self, has_body: bool) {
        self.response_body_open.store(has_body, Relaxed);
        self.busy.store(false, Relaxed);
        self.last_progress.store(self.now(), Relaxed);
    }

    pub fn response_body_ended(&self) {
        self.response_body_open.store(false, Relaxed);
        self.last_progress.store(self.now(), Relaxed);
    }

    /// While hyper holds the connection.
    pub fn next(&self, timeouts: &Timeouts) -> Next {
        if self.in_exchange() {
            return Next::Wait;
        }
        let head = self.head_started.load(Relaxed);
        if head != NONE {
            return Next::Close(self.at(head, timeouts.header_read), Expired::HeaderRead);
        }
        let last = self.last_progress.load(Relaxed);
        let idle_end = self.at(last, timeouts.idle);
        // Parking is safe only when hyper is back at "waiting for a request head": the request
        // body was read to its end and every response byte left hyper's buffer.
        if self.flushed.load(Relaxed) && !self.request_body_open.load(Relaxed) {
            return Next::Park(self.at(last, PARK_AFTER).min(idle_end));
        }
        Next::Close(idle_end, Expired::Idle)
    }

    /// While parked (no HTTP state held): when the idle timeout ends.
    pub fn idle_end(&self, timeouts: &Timeouts) -> Instant {
        self.at(self.last_progress.load(Relaxed), timeouts.idle)
    }
}
