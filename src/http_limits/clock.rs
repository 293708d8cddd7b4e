//! Each connection's [`RequestClock`]: where its current request is, when it is due, and
//! whether the worker shed it. A worker's clocks sit in its [`Registry`], which picks the
//! connection to shed when the server is full: the one that has waited longest on its client.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::task::Waker;

use tokio::time::Instant;

use super::TimeLimits;

/// Where a connection's current request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Between requests since `since`: the next byte read starts one. `backstop` closes the
    /// connection when the client neither reads the last response nor sends more within
    /// keep-alive plus the request timeout (it also catches the start of a pipelined head read
    /// together with the previous request, for which no later read would start the clock).
    Idle { since: Instant, backstop: Instant },
    /// A request head is arriving since `started` and is due by `deadline`.
    Head { started: Instant, deadline: Instant },
    /// The application waits for the body of the request that started at `started`.
    Body { started: Instant },
    /// The application has the request; the client is not being waited for.
    Handling,
}

/// The deadline of a connection's current request, shared by its stream and its requests
/// (through the connection data); single-threaded, as each connection lives on one worker.
#[derive(Debug)]
pub struct RequestClock {
    phase: Cell<Phase>,
    started: Cell<Instant>,
    shed: Cell<bool>,
    /// The connection's task, once it has run: until then it cannot be said to wait.
    waker: RefCell<Option<Waker>>,
    /// A response is stuck in the socket's buffer (the client does not read).
    write_pending: Cell<bool>,
    limits: TimeLimits,
}

impl RequestClock {
    fn new(limits: TimeLimits) -> Self {
        let now = Instant::now();
        Self {
            // The first request's head is due a request timeout after the connection opened.
            phase: Cell::new(Phase::Head {
                started: now,
                deadline: now + limits.request_timeout,
            }),
            started: Cell::new(now),
            shed: Cell::new(false),
            waker: RefCell::new(None),
            write_pending: Cell::new(false),
            limits,
        }
    }

    /// The limits this connection runs with.
    pub fn limits(&self) -> TimeLimits {
        self.limits
    }

    /// A request's head reached the application: returns the deadline its body must meet.
    pub fn head_received(&self) -> Instant {
        let deadline = match self.phase.get() {
            Phase::Head { deadline, .. } => deadline,
            // A pipelined head, read while the previous request was being answered.
            Phase::Idle { .. } | Phase::Body { .. } | Phase::Handling => {
                self.started.set(Instant::now());
                Instant::now() + self.limits.request_timeout
            }
        };
        self.phase.set(Phase::Handling);
        deadline
    }

    /// The application is waiting for more of the body (`true`) or got what it waited for.
    pub fn waiting_for_body(&self, waiting: bool) {
        let phase = if waiting {
            Phase::Body {
                started: self.started.get(),
            }
        } else {
            Phase::Handling
        };
        self.phase.set(phase);
    }

    /// The request was answered: the next byte read starts the next request's clock.
    pub fn answered(&self) {
        let now = Instant::now();
        let backstop = now + self.limits.keep_alive + self.limits.request_timeout;
        self.phase.set(Phase::Idle {
            since: now,
            backstop,
        });
    }

    /// Whether the worker shed this connection to make room.
    pub fn is_shed(&self) -> bool {
        self.shed.get()
    }

    pub(super) fn phase(&self) -> Phase {
        self.phase.get()
    }

    pub(super) fn bytes_arrived(&self) {
        if let Phase::Idle { .. } = self.phase.get() {
            let now = Instant::now();
            self.started.set(now);
            self.phase.set(Phase::Head {
                started: now,
                deadline: now + self.limits.request_timeout,
            });
        }
    }

    /// The instant the stream must close the connection at, if any.
    pub(super) fn watched(&self) -> Option<Instant> {
        match self.phase.get() {
            Phase::Idle { backstop, .. } => Some(backstop),
            Phase::Head { deadline, .. } => Some(deadline),
            Phase::Body { .. } | Phase::Handling => None,
        }
    }

    /// Remembers the task to wake when the connection is shed.
    pub(super) fn register(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    pub(super) fn set_write_pending(&self, pending: bool) {
        self.write_pending.set(pending);
    }

    /// Since when the connection has been waiting on its client, if it is: its task has read
    /// all there was and waits for more. Not a connection whose task has not run yet (just
    /// accepted), nor one whose response is still being written.
    fn waiting_since(&self) -> Option<Instant> {
        if self.waker.borrow().is_none() {
            return None;
        }
        match self.phase.get() {
            Phase::Idle { since, .. } if !self.write_pending.get() => Some(since),
            Phase::Head { started, .. } | Phase::Body { started } => Some(started),
            Phase::Idle { .. } | Phase::Handling => None,
        }
    }

    fn shed_now(&self) {
        self.shed.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// One worker's connections.
#[derive(Debug, Default)]
pub struct Registry {
    clocks: RefCell<Vec<Weak<RequestClock>>>,
}

impl Registry {
    /// A clock for a new connection, registered.
    pub(super) fn clock_for_new_connection(&self, limits: TimeLimits) -> Rc<RequestClock> {
        let clock = Rc::new(RequestClock::new(limits));
        let mut clocks = self.clocks.borrow_mut();
        clocks.retain(|c| c.strong_count() > 0);
        clocks.push(Rc::downgrade(&clock));
        clock
    }

    /// Connections of this worker still open.
    pub fn open(&self) -> usize {
        self.clocks
            .borrow()
            .iter()
            .filter(|c| c.strong_count() > 0)
            .count()
    }

    /// Sheds up to `most` of the connections that have waited longest on their clients, each
    /// for at least `grace` (so that a request on its way is not taken for a slow one);
    /// returns how many.
    pub fn shed_longest_waiting(&self, grace: std::time::Duration, most: usize) -> usize {
        let Some(waited_since) = Instant::now().checked_sub(grace) else {
            return 0;
        };
        let mut waiting: Vec<(Instant, Rc<RequestClock>)> = self
            .clocks
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| !c.is_shed())
            .filter_map(|c| c.waiting_since().map(|since| (since, c)))
            .filter(|(since, _)| *since <= waited_since)
            .collect();
        waiting.sort_by_key(|(since, _)| *since);
        waiting.truncate(most);
        for (_, clock) in &waiting {
            clock.shed_now();
        }
        waiting.len()
    }

    /// Sheds every connection idle between requests (the server is stopping).
    pub fn shed_idle(&self) {
        for clock in self.clocks.borrow().iter().filter_map(Weak::upgrade) {
            if let Phase::Idle { .. } = clock.phase() {
                clock.shed_now();
            }
        }
    }
}
