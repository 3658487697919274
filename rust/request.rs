// SPDX-License-Identifier: GPL-2.0

//! The life cycle of a handshake request, and the per-namespace queues of pending requests.
//!
//! A request is created by a consumer's submit and lives until its socket is destroyed. On the
//! way it is in exactly one [`State`]:
//!
//! ```text
//!   submit ──► Pending ──accept──► Accepted ──┐
//!                 │                           ├─ done / accept failure / cancel ─► Completed
//!                 └── done / drain / cancel ──┘
//! ```
//!
//! The first two states own the request's [`SocketPin`], the reference on the socket's file that
//! keeps the socket alive. [`State::complete`] is the one place a pin leaves a request: it moves
//! it out exactly once, under its queue's lock, and only the caller that got it may run the completion
//! ([`Completion`]); everyone else gets nothing. So a request cannot be completed twice, its file
//! cannot be released twice, and the consumer's callback runs at most once whoever wins the
//! race.
//!
//! A request is one allocation, its protocol part and its links in the request table included.
//! A request's state is guarded by the lock of its namespace's queue, so every transition takes
//! one lock. The queue's capacity is reserved when the namespace is set up, so queueing a request
//! allocates nothing.
//!
//! The request table finds a socket's request. It is [`DESTRUCT_SHARDS`] buckets, each a list
//! under a lock of its own, and a socket's request is in the bucket of the socket's destructor
//! shard: the bucket's lock is also what serialises changes to the socket's destructor.
//!
//! Lock order: a bucket of the request table, then a namespace's queue. Both are taken with
//! bottom halves disabled because consumers cancel from softirq context.

#![forbid(unsafe_code)]

use crate::{
    abstractions::{
        genl::{
            Gfp,
            Info, //
        },
        mem,
        module::ModuleRef,
        net::{
            Net,
            NetRef,
            Pernet,
            PernetData,
            PernetRegistration,
            SysctlU32, //
        },
        pid::Process,
        socket::{
            DestructHook,
            DestructHooks,
            Sock,
            SockDestructor,
            SockKey,
            Socket,
            SocketPin,
            DESTRUCT_SHARDS, //
        },
        sync::{
            new_spinlock_bh,
            GlobalLockBh,
            GlobalLockBhGuard,
            SpinLockBh,
            SpinLockBhBackend, //
        },
        tracepoints::{
            self as tp,
            ReqId, //
        },
    },
    genl_tables::HandlerClass,
    stats::Counters,
};
use core::pin::Pin;
use kernel::{
    bindings,
    fs::File,
    impl_has_delayed_work,
    list::{
        List,
        ListArc,
        ListLinksSelfPtr, //
    },
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{
            Acquire,
            Atomic,
            Relaxed,
            Release, //
        },
        rcu,
        Arc,
        ArcBorrow,
        GlobalLockBackend,
        LockClassKey,
        LockedBy,
        SetOnce, //
    },
    time::{
        Delta,
        Instant,
        Monotonic, //
    },
    workqueue::{
        self,
        new_delayed_work,
        DelayedWork,
        WorkItem, //
    },
};

/// The outcome of a handshake as given to a consumer: zero or a negative errno.
///
/// # Invariants
///
/// The value is in `-MAX_ERRNO..=0`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Status(i32);

impl Status {
    /// Success.
    pub(crate) const OK: Status = Status(0);

    /// A failure with errno `err`.
    pub(crate) fn from_error(err: Error) -> Self {
        // INVARIANT: `Error` holds a negative errno no smaller than `-MAX_ERRNO`.
        Status(err.to_errno())
    }

    /// The status reported by an agent in DONE: absent means `EIO`, `n` means `-n`. Values above
    /// `MAX_ERRNO` are refused by the policy already; should one get here it becomes `EIO`.
    pub(crate) fn from_agent(value: Option<u32>) -> Self {
        match value {
            None => Self::from_error(EIO),
            Some(0) => Status::OK,
            Some(v) if v <= bindings::MAX_ERRNO => {
                // INVARIANT: 1..=MAX_ERRNO negated.
                Status(-(v as i32))
            }
            Some(_) => Self::from_error(EIO),
        }
    }

    /// The value handed to C.
    pub(crate) fn to_errno(self) -> i32 {
        self.0
    }

    /// Whether the handshake succeeded.
    pub(crate) fn is_ok(self) -> bool {
        self.0 == 0
    }
}

/// What a security protocol (TLS) adds to the generic life cycle.
///
/// Dropping the protocol object is its destroy step: it happens when the request is freed.
pub(crate) trait Proto: Send + Sync + 'static {
    /// Which agents handle this request.
    fn class(&self) -> HandlerClass;

    /// Builds and sends the ACCEPT reply, telling the agent to use descriptor `fd`.
    fn accept(&self, info: &Info<'_>, fd: u32) -> Result;

    /// Tells the consumer the outcome. Called exactly once per submitted request unless the
    /// consumer cancelled it successfully; `info` is the agent's DONE, if it sent one.
    fn done(&self, status: Status, info: Option<&Info<'_>>);

    /// How long the consumer gives the agent, in milliseconds; 0 if it did not say.
    fn timeout_ms(&self) -> u32 {
        0
    }

    /// The address of the consumer's function that `done` calls, to name the consumer in the
    /// dump; 0 if there is none to name.
    fn consumer_code(&self) -> usize {
        0
    }

    /// The peer's name the consumer gave, for the dump.
    fn peername(&self) -> Option<&CStr> {
        None
    }

    /// The authentication the consumer asked for (`auth` of the family), for the dump.
    fn auth_mode(&self) -> u32 {
        0
    }
}

/// Which live states a transition may leave.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Leaving {
    /// Only `Pending` (drain, withdraw).
    Pending,
    /// `Pending` or `Accepted` (done, cancel, accept failure).
    Live,
}

/// What a request's queue lock guards: its state, and the hook in its socket's destructor.
///
/// # Invariants
///
/// `hook` is set while the request is in the request table, and taken out only by whoever
/// takes the request out of the table.
struct Guarded {
    state: State,
    hook: Option<DestructHook<RequestTableHook>>,
}

/// Where a request is in its life cycle.
enum State {
    /// Queued in its namespace, waiting for an agent.
    Pending(SocketPin),
    /// Handed to an agent, waiting for DONE.
    Accepted(SocketPin),
    /// Done, cancelled or drained; only the socket's destruction is left. `session` is true
    /// while a successful session exists and no close alert was sent; `submitted` is when the
    /// consumer submitted the request (for the dump).
    Completed {
        session: bool,
        submitted: Instant<Monotonic>,
    },
}

impl State {
    /// Whether the state is one `from` may leave.
    fn may_leave(&self, from: Leaving) -> bool {
        match self {
            State::Pending(_) => true,
            State::Accepted(_) => from == Leaving::Live,
            State::Completed { .. } => false,
        }
    }

    /// Moves to `Completed { session, submitted }` if the state is one `from` may leave,
    /// returning the pin and whether the request was pending. The only way a pin leaves a
    /// request.
    fn complete(
        &mut self,
        from: Leaving,
        session: bool,
        submitted: Instant<Monotonic>,
    ) -> Option<(SocketPin, bool)> {
        if !self.may_leave(from) {
            return None;
        }
        match core::mem::replace(self, State::Completed { session, submitted }) {
            State::Pending(pin) => Some((pin, true)),
            State::Accepted(pin) => Some((pin, false)),
            // Excluded above.
            State::Completed { .. } => None,
        }
    }

    /// Moves from `Pending` to `Accepted`, returning a new reference on the socket's file for
    /// the agent.
    fn accept(&mut self) -> Option<ARef<File>> {
        // The completed state in between is replaced at once.
        let (pin, _) = self.complete(Leaving::Pending, false, Instant::now())?;
        let file = pin.share();
        *self = State::Accepted(pin);
        Some(file)
    }

    /// Takes the session flag of a completed request: true once after a successful handshake.
    fn take_session(&mut self) -> bool {
        match self {
            State::Completed { session, .. } => core::mem::replace(session, false),
            _ => false,
        }
    }
}

/// A protocol object boxed by its caller is a protocol too (the KUnit suites' test protocols).
impl<P: Proto + ?Sized> Proto for KBox<P> {
    fn class(&self) -> HandlerClass {
        (**self).class()
    }

    fn accept(&self, info: &Info<'_>, fd: u32) -> Result {
        (**self).accept(info, fd)
    }

    fn done(&self, status: Status, info: Option<&Info<'_>>) {
        (**self).done(status, info)
    }

    fn timeout_ms(&self) -> u32 {
        (**self).timeout_ms()
    }

    fn consumer_code(&self) -> usize {
        (**self).consumer_code()
    }

    fn peername(&self) -> Option<&CStr> {
        (**self).peername()
    }

    fn auth_mode(&self) -> u32 {
        (**self).auth_mode()
    }
}

/// A handshake request, with its protocol part `P` and its links in the request table in the
/// same allocation. Requests are created as `Request<P>` for a concrete protocol and used as
/// `Request<dyn Proto>`.
///
/// # Invariants
///
/// - The request is in `hnet`'s queue if and only if its state is [`State::Pending`], and
///   never in another namespace's queue.
/// - While the state is `Pending` or `Accepted`, its pin is the pin of socket `sk`.
/// - `guarded` is guarded by the lock of `hnet`'s queue.
/// - The request is in no list but the bucket of `sk` in the request table, once at most.
#[pin_data]
pub(crate) struct Request<P: ?Sized = dyn Proto> {
    sk: SockKey,
    hnet: Arc<HandshakeNet>,
    guarded: LockedBy<Guarded, Queue>,
    #[pin]
    links: ListLinksSelfPtr<Request>,
    proto: P,
}

kernel::list::impl_list_arc_safe! {
    impl{P: ?Sized} ListArcSafe<0> for Request<P> { untracked; }
}
kernel::list::impl_list_item! {
    impl ListItem<0> for Request { using ListLinksSelfPtr { self.links }; }
}

impl Request {
    /// The socket this request is for, as a key.
    pub(crate) fn sk(&self) -> SockKey {
        self.sk
    }

    /// The request's identity in trace events.
    pub(crate) fn id(&self) -> ReqId {
        ReqId(core::ptr::from_ref(self).cast())
    }

    /// The protocol part of the request.
    pub(crate) fn proto(&self) -> &dyn Proto {
        &self.proto
    }

    /// Takes a completed request's session flag: true once after a successful handshake.
    pub(crate) fn take_session(&self) -> bool {
        let mut queue = self.hnet.queue.lock();
        self.guarded.access_mut(&mut queue).state.take_session()
    }

    /// Whether the request was completed (or cancelled).
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn is_completed(&self) -> bool {
        let queue = self.hnet.queue.lock();
        matches!(self.guarded.access(&queue).state, State::Completed { .. })
    }

    /// Leaves a state `from` allows for `Completed`, taking the request off its queue if it was
    /// pending. Returns the pin if this call made the transition.
    fn leave(&self, from: Leaving, session: bool) -> Option<SocketPin> {
        let mut queue = self.hnet.queue.lock();
        if !self.guarded.access(&queue).state.may_leave(from) {
            return None;
        }
        // Live, so watched.
        let watch = queue.unwatch(self);
        let submitted = watch.as_ref().map_or_else(Instant::now, |w| w.submitted);
        // Checked above: the transition is made.
        let (pin, was_pending) = self
            .guarded
            .access_mut(&mut queue)
            .state
            .complete(from, session, submitted)?;
        if was_pending {
            // INVARIANT: No longer pending, so no longer queued.
            let _ = queue.remove(self);
        }
        drop(queue);
        // The request and the agent's pid go with no lock held.
        drop(watch);
        Some(pin)
    }

    /// Wins the right to complete the request, if nobody else did.
    pub(crate) fn try_complete(self: &Arc<Self>, status: Status) -> Option<Completion> {
        let pin = self.leave(Leaving::Live, status.is_ok())?;
        Some(Completion {
            req: self.clone(),
            pin: Some(pin),
            status,
        })
    }

    /// Completes the request with `status` unless it is already completed: true if this call
    /// completed it.
    pub(crate) fn complete(self: &Arc<Self>, status: Status, info: Option<&Info<'_>>) -> bool {
        match self.try_complete(status) {
            Some(completion) => {
                completion.run(info);
                true
            }
            None => false,
        }
    }

    /// What happened to the requests of the request's namespace.
    pub(crate) fn counters(&self) -> &Counters {
        &self.hnet.counters
    }

    /// Cancels the request for its consumer: true if this call won and `done` will not run.
    fn cancel(&self) -> bool {
        match self.leave(Leaving::Live, false) {
            Some(pin) => {
                tp::handshake_cancel(pin.net(), self.id(), Some(self.sk));
                Counters::inc(&self.hnet.counters.cancelled);
                // The consumer still holds its own reference; releasing ours cannot free the
                // socket under it, and `fput` may be called from softirq context.
                drop(pin);
                true
            }
            None => false,
        }
    }
}

/// The exclusive right to complete a request, held by whoever won the race.
///
/// Not `Clone`. [`Completion::run`] consumes it, calls the consumer once and then releases the
/// request's file pin; dropping it does the same without the agent's DONE, so a won completion
/// cannot be lost.
///
/// # Invariants
///
/// `pin` is the request's pin, taken out of its state, until the completion has run.
#[must_use = "a completion calls the consumer when it runs or is dropped: hold no lock then"]
pub(crate) struct Completion {
    req: Arc<Request>,
    pin: Option<SocketPin>,
    status: Status,
}

impl Completion {
    /// Calls the protocol's `done` (and through it the consumer), then releases the pin.
    pub(crate) fn run(mut self, info: Option<&Info<'_>>) {
        self.finish(info);
    }

    fn finish(&mut self, info: Option<&Info<'_>>) {
        let Some(pin) = self.pin.take() else {
            return;
        };
        tp::handshake_complete(
            pin.net(),
            self.req.id(),
            Some(self.req.sk),
            self.status.to_errno(),
        );
        self.req.proto.done(self.status, info);
        drop(pin);
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// How many pending requests a namespace's queue has room for from the start: queueing them
/// allocates nothing. Beyond, up to the namespace's limit, the queue grows when needed.
const QUEUE_RESERVED: usize = 64;

/// The pending requests of one namespace, oldest first, and the lock of their states.
pub(crate) struct Queue {
    reqs: KVec<Arc<Request>>,
    /// Every live (pending or accepted) request, with its deadline and agent. Reserved with the
    /// namespace like `reqs`; accepted requests are not limited, so beyond that room a submit
    /// grows it without sleeping (and fails with `ENOMEM` if it cannot).
    live: KVec<Watch>,
    /// Whether the ticker is armed (see [`HandshakeNet::tick`]).
    ticking: bool,
    draining: bool,
    resend: Resend,
}

/// Why the ticker completes a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Due {
    /// Its deadline passed: `ETIMEDOUT`.
    Deadline,
    /// The process that accepted it exited before its DONE: `EIO`. With its pid in the
    /// ticker's (the initial) pid namespace, 0 if it has none.
    AgentDied(u32),
}

/// How often the ticker looks at a namespace's live requests: how late a deadline may be
/// noticed, and how soon an agent's death.
const TICK: kernel::time::Jiffies = (bindings::HZ / 4) as kernel::time::Jiffies;

/// `net.handshake.default_timeout_ms` of a new namespace: GnuTLS's default handshake timeout,
/// which tlshd uses when the kernel gives none.
const DEFAULT_TIMEOUT_MS: u32 = 40_000;

/// `net.handshake.deadline_grace_ms` of a new namespace.
const DEADLINE_GRACE_MS: u32 = 5_000;

/// The most either timing setting may be: a day.
const TIMING_LIMIT_MS: u32 = 86_400_000;

/// How many namespaces' tickers are armed; each holds a reference on its namespace's state and
/// runs the module's code, so the module waits for none to be armed before it goes.
static TICKERS: Atomic<i32> = Atomic::new(0);

/// Waits until no ticker is armed: each stops at its next tick once nothing is live, which is
/// the case when the module is being removed (every live request holds a module reference).
pub(crate) fn wait_for_tickers() {
    while TICKERS.load(Acquire) != 0 {
        kernel::time::delay::fsleep(Delta::from_millis(10));
    }
}

/// A live request as the ticker watches it.
struct Watch {
    req: Arc<Request>,
    /// When the consumer submitted it.
    submitted: Instant<Monotonic>,
    /// When the kernel completes it with `ETIMEDOUT` if nobody else did.
    deadline: Instant<Monotonic>,
    /// The process that accepted it, once accepted.
    agent: Option<Process>,
}

impl Queue {
    fn new(max: usize) -> Result<Self> {
        Ok(Queue {
            reqs: KVec::with_capacity(max.min(QUEUE_RESERVED), GFP_KERNEL)?,
            live: KVec::with_capacity(max.min(QUEUE_RESERVED), GFP_KERNEL)?,
            ticking: false,
            draining: false,
            resend: Resend::Idle,
        })
    }

    /// The number of pending requests.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn pending(&self) -> usize {
        self.reqs.len()
    }

    /// The number of pending requests of `class`.
    fn pending_of(&self, class: HandlerClass) -> usize {
        self.reqs
            .iter()
            .filter(|r| r.proto.class() == class)
            .count()
    }

    /// Whether the namespace is going away.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn draining(&self) -> bool {
        self.draining
    }

    /// Checks that one more request may be queued with at most `max` pending.
    fn admit(&self, max: usize) -> Result {
        if self.reqs.len() >= max {
            return Err(EAGAIN);
        }
        if self.draining {
            return Err(EOPNOTSUPP);
        }
        Ok(())
    }

    /// Queues `req` as the newest; the caller checked [`Queue::admit`]. Within the room reserved
    /// at setup this allocates nothing; beyond, the array grows without sleeping (the caller
    /// holds the lock).
    fn push(&mut self, req: Arc<Request>) -> Result {
        self.reqs.push(req, GFP_ATOMIC | __GFP_NOWARN)?;
        Ok(())
    }

    /// Starts watching `req`, submitted at `submitted`, until `deadline`. Within the room
    /// reserved at setup this allocates nothing; beyond, the array grows without sleeping.
    fn watch(
        &mut self,
        req: Arc<Request>,
        submitted: Instant<Monotonic>,
        deadline: Instant<Monotonic>,
    ) -> Result {
        self.live.push(
            Watch {
                req,
                submitted,
                deadline,
                agent: None,
            },
            GFP_ATOMIC | __GFP_NOWARN,
        )?;
        Ok(())
    }

    /// Stops watching `req`.
    fn unwatch(&mut self, req: &Request) -> Option<Watch> {
        let i = self
            .live
            .iter()
            .position(|w| core::ptr::addr_eq::<Request, Request>(&*w.req, req))?;
        self.live.remove(i).ok()
    }

    /// The first live request that is due at `now`: past its deadline (`ETIMEDOUT`) or
    /// accepted by a process that has exited (`EIO`).
    fn due(&self, now: Instant<Monotonic>) -> Option<(Arc<Request>, Due)> {
        self.live.iter().find_map(|w| {
            let due = if !(now - w.deadline).is_negative() {
                Due::Deadline
            } else if let Some(agent) = w.agent.as_ref().filter(|a| !a.alive()) {
                Due::AgentDied(agent.nr_here().unwrap_or(0))
            } else {
                return None;
            };
            Some((w.req.clone(), due))
        })
    }

    /// Takes the oldest request `which` picks off the queue.
    fn take(&mut self, which: impl Fn(&Request) -> bool) -> Option<Arc<Request>> {
        let i = self.reqs.iter().position(|r| which(r))?;
        self.reqs.remove(i).ok()
    }

    /// Takes `req` off the queue.
    fn remove(&mut self, req: &Request) -> Option<Arc<Request>> {
        self.take(|r| core::ptr::addr_eq::<Request, Request>(r, req))
    }

    /// Removes the oldest request of `class`, or of any class.
    fn pop(&mut self, class: Option<HandlerClass>) -> Option<Arc<Request>> {
        self.take(|r| class.is_none_or(|c| r.proto.class() == c))
    }
}

/// The per-namespace state of the service: its queue of pending requests and their limit.
#[pin_data]
pub(crate) struct HandshakeNet {
    #[pin]
    queue: SpinLockBh<Queue>,
    /// The limit of pending requests, `/proc/sys/net/handshake/pending_max` of the namespace.
    pending_max: Atomic<u32>,
    /// A request's deadline when its consumer gives no timeout, in milliseconds
    /// (`net.handshake.default_timeout_ms`).
    default_timeout_ms: Atomic<u32>,
    /// What a request's deadline adds to its consumer's timeout, in milliseconds
    /// (`net.handshake.deadline_grace_ms`).
    deadline_grace_ms: Atomic<u32>,
    /// Whether agents with `CAP_NET_ADMIN` over the namespace's own user namespace may ACCEPT
    /// and DONE its requests (1), or only those with it in the initial one (0, as in C)
    /// (`net.handshake.agent_userns`).
    agent_userns: Atomic<u32>,
    /// What happened to the namespace's requests.
    counters: Counters,
    /// Completes the requests that are due, every [`TICK`] while any is live.
    #[pin]
    ticker: DelayedWork<HandshakeNet>,
}

impl HandshakeNet {
    /// New state admitting `max` pending requests.
    pub(crate) fn new(max: usize) -> Result<Arc<Self>> {
        let queue = Queue::new(max)?;
        Arc::pin_init(
            pin_init!(HandshakeNet {
                queue <- new_spinlock_bh!(queue, "handshake_net"),
                pending_max: Atomic::new(u32::try_from(max).unwrap_or(u32::MAX)),
                default_timeout_ms: Atomic::new(DEFAULT_TIMEOUT_MS),
                deadline_grace_ms: Atomic::new(DEADLINE_GRACE_MS),
                agent_userns: Atomic::new(0),
                counters: Counters::new(),
                ticker <- new_delayed_work!("handshake_ticker"),
            }),
            GFP_KERNEL,
        )
    }

    /// Whether the namespace's own administrators may serve its requests as agents
    /// (`net.handshake.agent_userns`).
    pub(crate) fn agent_userns(&self) -> bool {
        self.agent_userns.load(Relaxed) != 0
    }

    /// The limit of pending requests now.
    pub(crate) fn pending_max(&self) -> usize {
        self.pending_max.load(Relaxed) as usize
    }

    /// When a request submitted at `submitted` with a consumer's timeout of `timeout_ms` (0:
    /// none given) is due.
    fn deadline(&self, submitted: Instant<Monotonic>, timeout_ms: u32) -> Instant<Monotonic> {
        let timeout = match timeout_ms {
            0 => self.default_timeout_ms.load(Relaxed),
            t => t,
        };
        let ms = i64::from(timeout) + i64::from(self.deadline_grace_ms.load(Relaxed));
        submitted + Delta::from_millis(ms)
    }

    /// Arms the ticker if it is not: the queue is `queue`, locked by the caller.
    fn arm(self: &Arc<Self>, queue: &mut Queue) {
        if queue.ticking {
            return;
        }
        queue.ticking = true;
        TICKERS.add(1, Relaxed);
        let _ = workqueue::system().enqueue_delayed(self.clone(), TICK);
    }

    /// Completes what is due, one request at a time with no lock held, then ticks again while
    /// anything is live.
    fn tick(self: Arc<Self>) {
        let now = Instant::now();
        loop {
            let Some((req, due)) = self.queue.lock().due(now) else {
                break;
            };
            let (status, counter) = match due {
                Due::Deadline => (ETIMEDOUT, &self.counters.timed_out),
                Due::AgentDied(_) => (EIO, &self.counters.agent_died),
            };
            if let Some(completion) = req.try_complete(Status::from_error(status)) {
                if let Some(pin) = &completion.pin {
                    let (net, id, sk) = (pin.net(), req.id(), Some(req.sk));
                    match due {
                        Due::Deadline => tp::handshake_timed_out(net, id, sk),
                        Due::AgentDied(pid) => {
                            let pid = i32::try_from(pid).unwrap_or(0);
                            tp::handshake_agent_died(net, id, sk, pid)
                        }
                    }
                }
                Counters::inc(counter);
                completion.run(None);
            } else {
                // Completed meanwhile, which took it off the watch; make sure all the same.
                let _ = self.queue.lock().unwatch(&req);
            }
        }
        let mut queue = self.queue.lock();
        if queue.live.is_empty() {
            queue.ticking = false;
            drop(queue);
            // The namespace's state may go with this reference: before the count, so that
            // module removal, which waits for the count, also waits for that. What runs after
            // is the return, as after a socket destructor's last module reference.
            drop(self);
            TICKERS.fetch_add(-1, Release);
            return;
        }
        drop(queue);
        let _ = workqueue::system().enqueue_delayed(self, TICK);
    }

    /// The number of requests pending now.
    pub(crate) fn pending(&self) -> usize {
        self.queue.lock().reqs.len()
    }

    /// What happened to the namespace's requests.
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The queue of pending requests.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn queue(&self) -> &SpinLockBh<Queue> {
        &self.queue
    }

    /// Removes the oldest pending request of `class` for an agent and moves it to `Accepted`,
    /// returning it with a file reference of the agent's own.
    ///
    /// The reference is taken under the lock, so a consumer that cancels and closes its socket
    /// right after cannot free the file under the agent.
    pub(crate) fn accept_next(&self, class: HandlerClass) -> Option<(Arc<Request>, ARef<File>)> {
        // The calling task's process is the agent the request now waits for.
        let agent = Process::current();
        let mut queue = self.queue.lock();
        let req = queue.pop(Some(class))?;
        // INVARIANT: Out of the queue and no longer `Pending`. (Queued requests are `Pending`
        // by the invariant, so `accept` finds one.)
        let file = req.guarded.access_mut(&mut queue).state.accept()?;
        if let Some(w) = queue
            .live
            .iter_mut()
            .find(|w| core::ptr::addr_eq::<Request, Request>(&*w.req, &*req))
        {
            w.agent = agent;
        }
        drop(queue);
        Some((req, file))
    }

    /// Completes every pending request with `ETIMEDOUT` and refuses new ones: what a namespace's
    /// exit does. Accepted requests finish when their sockets are destroyed.
    pub(crate) fn drain(&self) {
        self.queue.lock().draining = true;
        loop {
            let (completion, watch) = {
                let mut queue = self.queue.lock();
                let Some(req) = queue.pop(None) else {
                    break;
                };
                // No longer live either.
                let watch = queue.unwatch(&req);
                let submitted = watch.as_ref().map_or_else(Instant::now, |w| w.submitted);
                // INVARIANT: Out of the queue and no longer `Pending`.
                let taken = req.guarded.access_mut(&mut queue).state.complete(
                    Leaving::Pending,
                    false,
                    submitted,
                );
                let completion = taken.map(|(pin, _)| {
                    tp::handshake_drained(pin.net(), req.id(), Some(req.sk));
                    Counters::inc(&self.counters.drained);
                    Completion {
                        req,
                        pin: Some(pin),
                        status: Status::from_error(ETIMEDOUT),
                    }
                });
                (completion, watch)
            };
            // The consumer's callback runs with no lock held, and the watch goes then too.
            drop(completion);
            drop(watch);
        }
    }
}

/// Where a request was when the dump looked at it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Seen {
    /// Waiting for an agent.
    Pending,
    /// Accepted by the agent, which has not answered.
    Accepted,
    /// Completed; its socket is not released yet.
    Completed,
}

/// A request as the dump shows it, at one moment.
pub(crate) struct Shown {
    /// The request.
    pub(crate) req: Arc<Request>,
    /// Its state then.
    pub(crate) state: Seen,
    /// When its consumer submitted it.
    pub(crate) submitted: Instant<Monotonic>,
    /// When the kernel completes it if nobody else does, if it is live.
    pub(crate) deadline: Option<Instant<Monotonic>>,
    /// The process that accepted it, in the caller's pid namespace, if it is accepted and the
    /// process is visible there.
    pub(crate) agent: Option<u32>,
}

impl HandshakeNet {
    /// The namespace's requests: the live ones (pending and accepted) in the order their
    /// consumers submitted them, then the completed ones whose sockets are not released yet.
    ///
    /// Each request is there once, in the state it was in when last looked at: the live ones
    /// are taken under the queue's lock, the completed ones a bucket of the request table at a
    /// time (the lock order forbids holding the queue's lock across them), so a request that
    /// completed in between is shown completed, in its place among the live ones. Nothing is
    /// allocated with a lock held. Like the socket diagnostics, this walks the requests of every
    /// namespace, a bucket at a time. Called in the caller's context, for its pid namespace.
    pub(crate) fn requests(&self) -> Result<KVec<Shown>> {
        let mut out = KVec::new();
        loop {
            let live = self.queue.lock().live.len();
            out.reserve(live, GFP_KERNEL)?;
            let queue = self.queue.lock();
            if queue.live.len() > out.capacity() {
                // More arrived meanwhile.
                continue;
            }
            for w in &queue.live {
                let state = match w.req.guarded.access(&queue).state {
                    State::Pending(_) => Seen::Pending,
                    State::Accepted(_) => Seen::Accepted,
                    // A completed request is not watched.
                    State::Completed { .. } => continue,
                };
                let shown = Shown {
                    req: w.req.clone(),
                    state,
                    submitted: w.submitted,
                    deadline: Some(w.deadline),
                    agent: w.agent.as_ref().and_then(Process::nr_here),
                };
                // Room for every live request: this cannot fail, nor free anything.
                let _ = out.push_within_capacity(shown);
            }
            break;
        }
        // Where each live request is in `out`, by address, to find one that completed since.
        let mut index = KVec::with_capacity(out.len(), GFP_KERNEL)?;
        for (i, shown) in out.iter().enumerate() {
            index.push((Arc::as_ptr(&shown.req).addr(), i), GFP_KERNEL)?;
        }
        index.sort_unstable();
        for b in &BUCKETS {
            // Under the locks the entries go in the room reserved before; when it is short, the
            // bucket is taken again with room for what it had.
            let start = out.len();
            loop {
                let short = {
                    let bucket = b.lock();
                    let queue = self.queue.lock();
                    let mut short = 0;
                    for req in bucket.reqs.iter() {
                        if !core::ptr::eq::<HandshakeNet>(&*req.hnet, self) {
                            continue;
                        }
                        let State::Completed { submitted, .. } = req.guarded.access(&queue).state
                        else {
                            continue;
                        };
                        let addr = core::ptr::from_ref::<Request>(&req).addr();
                        if let Ok(k) = index.binary_search_by_key(&addr, |&(a, _)| a) {
                            let shown = &mut out[index[k].1];
                            shown.state = Seen::Completed;
                            shown.deadline = None;
                            shown.agent = None;
                        } else if short > 0 || out.len() == out.capacity() {
                            short += 1;
                        } else {
                            let shown = Shown {
                                req: req.into(),
                                state: Seen::Completed,
                                submitted,
                                deadline: None,
                                agent: None,
                            };
                            // Room checked just above: this cannot fail, nor free anything.
                            let _ = out.push_within_capacity(shown);
                        }
                    }
                    short
                };
                if short == 0 {
                    break;
                }
                // The references go with no lock held.
                let had = out.len() - start;
                out.truncate(start);
                out.reserve(had + short, GFP_KERNEL)?;
            }
        }
        Ok(out)
    }
}

/// How a READY is sent: the family's `announce`, or a test's stand-in.
pub(crate) type Announce = fn(&Net, HandlerClass, Gfp) -> Result;

/// Ticks [`ReadyAgain`] waits for a joining agent's subscription to take effect, at most.
pub(crate) const READY_AGAIN_TICKS: u32 = 50;

/// READY sent again, for each request of `class` pending in `net`, once an agent that is
/// joining the class's group hears it.
///
/// The generic netlink core tells the family about a joining socket before the socket is in
/// the group, so this runs from a work item a tick later, and again every tick while nobody
/// listens yet, [`READY_AGAIN_TICKS`] times at most. It holds a reference on the namespace, its
/// state and the module until it ends.
#[pin_data]
struct ReadyAgain {
    net: NetRef,
    hn: Arc<HandshakeNet>,
    class: HandlerClass,
    announce: Announce,
    ticks: u32,
    _module: ModuleRef,
    #[pin]
    work: DelayedWork<ReadyAgain>,
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for ReadyAgain { self.work }
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for HandshakeNet { self.ticker }
}

impl WorkItem for HandshakeNet {
    type Pointer = Arc<HandshakeNet>;

    fn run(this: Arc<HandshakeNet>) {
        this.tick();
    }
}

impl ReadyAgain {
    /// Sends the READYs if an agent listens: false to try again a tick later.
    fn send(self: Pin<&mut Self>) -> bool {
        // A drained queue has nothing pending.
        let pending = self.hn.queue.lock().pending_of(self.class);
        if pending == 0 {
            return true;
        }
        // `announce` fails with `ESRCH` while nobody listens.
        match (self.announce)(&self.net, self.class, Gfp::KERNEL) {
            Ok(()) => {}
            Err(e) if e == ESRCH => {
                let ticks = self.project().ticks;
                *ticks += 1;
                return *ticks >= READY_AGAIN_TICKS;
            }
            Err(_) => return true,
        }
        let mut sent = 1;
        while sent < pending && (self.announce)(&self.net, self.class, Gfp::KERNEL).is_ok() {
            sent += 1;
        }
        self.hn.counters.ready_again.add(sent as u64, Relaxed);
        let sent = i32::try_from(sent).unwrap_or(i32::MAX);
        tp::handshake_ready_again(&self.net, ReqId::NONE, None, sent);
        true
    }
}

impl WorkItem for ReadyAgain {
    type Pointer = Pin<KBox<Self>>;

    fn run(mut this: Pin<KBox<Self>>) {
        if !this.as_mut().send() {
            workqueue::system().enqueue_delayed(this, 1);
            return;
        }
        // An agent that joined while this one was queued or sending gets its turn too.
        if this.hn.queue.lock().resend.finish() {
            *this.as_mut().project().ticks = 0;
            workqueue::system().enqueue_delayed(this, 1);
        }
    }
}

/// Whether a namespace has a [`ReadyAgain`] under way: one at a time, and once more if another
/// agent joined meanwhile.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// None.
    Idle,
    /// One is queued or running.
    Queued,
    /// One is queued or running, and another agent joined since it started.
    Again,
}

impl Resend {
    /// A joining agent: true if a new work item is needed.
    fn start(&mut self) -> bool {
        let start = *self == Resend::Idle;
        *self = if start { Resend::Queued } else { Resend::Again };
        start
    }

    /// The work item is done: true if it must run once more.
    fn finish(&mut self) -> bool {
        let again = *self == Resend::Again;
        *self = if again { Resend::Queued } else { Resend::Idle };
        again
    }
}

/// An agent of the calling task's namespace is joining the group of `class`: if requests of
/// that class are pending there, READY is sent again for each with `announce` once the agent
/// hears it (see [`ReadyAgain`]). Best effort: if memory is short nothing is sent.
pub(crate) fn agent_joins(class: HandlerClass, announce: Announce) {
    let Some(net) = NetRef::current() else {
        return;
    };
    if let Some(hn) = pernet(&net) {
        ready_again(hn, net, class, announce);
    }
}

/// Sends READY again for each request of `class` pending in `hn`, the queue of `net`, with
/// `announce` once it finds a listener (see [`ReadyAgain`]).
pub(crate) fn ready_again(
    hn: Arc<HandshakeNet>,
    net: NetRef,
    class: HandlerClass,
    announce: Announce,
) {
    {
        let mut queue = hn.queue.lock();
        if queue.pending_of(class) == 0 || !queue.resend.start() {
            return;
        }
    }
    let Some(module) = ModuleRef::get() else {
        hn.queue.lock().resend = Resend::Idle;
        return;
    };
    let owner = hn.clone();
    let work = KBox::pin_init(
        pin_init!(ReadyAgain {
            net,
            hn,
            class,
            announce,
            ticks: 0,
            _module: module,
            work <- new_delayed_work!("handshake_ready_again"),
        }),
        GFP_KERNEL,
    );
    match work {
        Ok(work) => workqueue::system().enqueue_delayed(work, 1),
        Err(_) => owner.queue.lock().resend = Resend::Idle,
    }
}

/// The limit of pending requests for new namespaces; 0 means [`default_pending_max`].
static PENDING_MAX: Atomic<u32> = Atomic::new(0);

/// The default limit of pending requests per namespace: one per 25 pages of RAM per page size
/// unit (about one per 400 MiB with 4 KiB pages), at least 3 and at most 50.
pub(crate) fn default_pending_max() -> usize {
    let ram = mem::total_ram();
    (ram.units / (25 * ram.unit)).clamp(3, 50) as usize
}

/// The most pending requests a namespace may be given: the queue is searched under a lock with
/// bottom halves disabled, and a joining agent gets a READY per pending request.
pub(crate) const PENDING_LIMIT: u32 = 4096;

fn pending_max() -> usize {
    match PENDING_MAX.load(Relaxed) {
        0 => default_pending_max(),
        n => n.min(PENDING_LIMIT) as usize,
    }
}

static PERNET: Pernet<HandshakeNet> = Pernet::new();

impl PernetData for HandshakeNet {
    fn pernet() -> &'static Pernet<Self> {
        &PERNET
    }

    fn init(_net: &Net) -> Result<Arc<Self>> {
        HandshakeNet::new(pending_max())
    }

    fn exit(this: &Arc<Self>, _net: &Net) {
        this.drain();
    }

    const SYSCTL_PATH: &'static CStr = c"net/handshake";
    const SYSCTLS: &'static [SysctlU32<Self>] = &[
        SysctlU32 {
            name: c"pending_max",
            min: 1,
            max: PENDING_LIMIT,
            value: |hn| &hn.pending_max,
            initial_admin_writes: false,
            written: None,
        },
        SysctlU32 {
            name: c"default_timeout_ms",
            min: 1,
            max: TIMING_LIMIT_MS,
            value: |hn| &hn.default_timeout_ms,
            initial_admin_writes: false,
            written: None,
        },
        SysctlU32 {
            name: c"deadline_grace_ms",
            min: 0,
            max: TIMING_LIMIT_MS,
            value: |hn| &hn.deadline_grace_ms,
            initial_admin_writes: false,
            written: None,
        },
        // Letting a container's agent serve the namespace hands it the namespace's consumers'
        // sockets and keys: the host's decision, not the container's.
        SysctlU32 {
            name: c"agent_userns",
            min: 0,
            max: 1,
            value: |hn| &hn.agent_userns,
            initial_admin_writes: true,
            written: Some(agent_userns_written),
        },
    ];
}

/// What the service does when a namespace first lets its own administrators serve as agents,
/// given by [`register`].
static AGENT_USERNS_OPT_IN: SetOnce<fn()> = SetOnce::new();

fn agent_userns_written(value: u32) {
    if value != 0 {
        if let Some(opt_in) = AGENT_USERNS_OPT_IN.copy() {
            opt_in();
        }
    }
}

/// Sets up the service: the request table, and the state of every namespace, whose queues admit
/// `pending_max` requests (0: scale with memory). `agent_userns_opt_in` is called whenever a
/// namespace sets `net.handshake.agent_userns` to 1, before the write returns.
pub(crate) fn register(
    pending_max: u32,
    agent_userns_opt_in: fn(),
) -> Result<PernetRegistration<HandshakeNet>> {
    PENDING_MAX.store(pending_max, Relaxed);
    AGENT_USERNS_OPT_IN.populate(agent_userns_opt_in);
    let hooks = DestructHooks::claim().ok_or(EBUSY)?;
    for (bucket, hooks) in BUCKETS.iter().zip(hooks) {
        bucket.lock().hooks = Some(hooks);
    }
    PERNET.register()
}

/// The state of `net`, or `None` if the service is not (or no longer) set up there.
pub(crate) fn pernet(net: &Net) -> Option<Arc<HandshakeNet>> {
    PERNET.get(net)
}

/// The state of `net`, borrowed while `rcu` is held.
pub(crate) fn pernet_rcu<'a>(
    net: &Net,
    rcu: &'a rcu::Guard,
) -> Option<ArcBorrow<'a, HandshakeNet>> {
    PERNET.get_rcu(net, rcu)
}

/// One bucket of the request table: the live requests of the sockets of one destructor shard,
/// and the right to change those sockets' destructors.
///
/// # Invariants
///
/// A socket of the shard has a request in `reqs` if and only if our destructor is installed in
/// it; `hooks` is the shard's registry, set up by [`register`].
pub(crate) struct Bucket {
    reqs: List<Request>,
    hooks: Option<DestructHooks<RequestTableHook>>,
}

impl Bucket {
    const fn new() -> Self {
        Bucket {
            reqs: List::new(),
            hooks: None,
        }
    }

    /// The request of `sk`, if it is in this bucket.
    fn get(&self, sk: SockKey) -> Option<Arc<Request>> {
        self.reqs.iter().find(|r| r.sk == sk).map(Into::into)
    }

    /// Takes the request of `sk` out of this bucket.
    fn remove(&mut self, sk: SockKey) -> Option<ListArc<Request>> {
        let mut cursor = self.reqs.cursor_front();
        while let Some(next) = cursor.peek_next() {
            if next.sk == sk {
                return Some(next.remove());
            }
            cursor.move_next();
        }
        None
    }

    /// Takes the request of the pinned socket out of the table and its hook out of the socket;
    /// hands back the request if it was there.
    fn unhook(&mut self, pin: &SocketPin) -> Option<Arc<Request>> {
        let req = self.remove(pin.key())?.into_arc();
        let hook = req
            .guarded
            .access_mut(&mut req.hnet.queue.lock())
            .hook
            .take();
        if let (Some(hook), Some(hooks)) = (hook, self.hooks.as_mut()) {
            hooks.uninstall(hook, pin);
        }
        Some(req)
    }
}

/// The lock class and backend of the buckets of [`BUCKETS`]; they are never nested.
pub(crate) enum BucketLock {}

impl GlobalLockBackend for BucketLock {
    const NAME: &'static CStr = c"handshake_requests";
    type Item = Bucket;
    type Backend = SpinLockBhBackend;

    fn get_lock_class() -> Pin<&'static LockClassKey> {
        kernel::static_lock_class!()
    }
}

/// The table of live requests, by socket: what the socket destructor finds its request in.
static BUCKETS: [GlobalLockBh<BucketLock>; DESTRUCT_SHARDS] =
    [const { GlobalLockBh::new(Bucket::new()) }; DESTRUCT_SHARDS];

/// The locked bucket of socket `sk`.
fn bucket(sk: SockKey) -> GlobalLockBhGuard<BucketLock> {
    BUCKETS[sk.shard()].lock()
}

/// The request of socket `sk`, if any (pending, accepted or completed).
pub(crate) fn lookup(sk: SockKey) -> Option<Arc<Request>> {
    bucket(sk).get(sk)
}

/// Whether any request is alive.
pub(crate) fn table_is_empty() -> bool {
    BUCKETS.iter().all(|b| b.lock().reqs.is_empty())
}

/// Submits a handshake request for `sock` to the queue of its namespace, announcing it with
/// `announce` (see [`submit_in`]).
///
/// The caller holds a reference on the socket's file for the duration of the call (the
/// invariant of [`Socket`]).
pub(crate) fn submit<P: Proto>(
    sock: &Socket,
    proto: P,
    gfp: Gfp,
    announce: impl FnOnce(&Net, HandlerClass, Gfp) -> Result,
) -> Result {
    // A socket without a file or sock is refused before anything else.
    sock.file().ok_or(EINVAL)?;
    let sk = sock.sk().ok_or(EINVAL)?;
    let result = pernet(sk.net())
        .ok_or(EOPNOTSUPP)
        .and_then(|hn| submit_in(hn, sock, proto, gfp, announce));
    if let Err(e) = &result {
        tp::handshake_submit_err(sk.net(), ReqId::NONE, Some(sk.key()), e.to_errno());
        let rcu = rcu::read_lock();
        if let Some(hn) = pernet_rcu(sk.net(), &rcu) {
            hn.counters.refused.add_error(*e);
        }
    }
    result
}

/// [`submit_in`] for a caller that keeps its reference on `hn` (the KUnit suites).
#[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
pub(crate) fn submit_to<P: Proto>(
    hn: &Arc<HandshakeNet>,
    sock: &Socket,
    proto: P,
    gfp: Gfp,
    announce: impl FnOnce(&Net, HandlerClass, Gfp) -> Result,
) -> Result {
    submit_in(hn.clone(), sock, proto, gfp, announce)
}

/// Submits a request for `sock` to the queue `hn`, then has `announce` tell the agents of its
/// class in the socket's namespace. The request keeps the reference on `hn`.
///
/// On success exactly one `done` follows unless the consumer cancels successfully; on failure
/// nothing of the request is left and `sk->sk_destruct` is what it was.
fn submit_in<P: Proto>(
    hn: Arc<HandshakeNet>,
    sock: &Socket,
    proto: P,
    gfp: Gfp,
    announce: impl FnOnce(&Net, HandlerClass, Gfp) -> Result,
) -> Result {
    let pin = SocketPin::new(sock)?;
    let net = sock.sk().ok_or(EINVAL)?.net();
    let req = enqueue(hn, pin, proto, gfp)?;
    if let Err(e) = announce(net, req.proto.class(), gfp) {
        tp::handshake_notify_err(net, req.id(), Some(req.sk), e.to_errno());
        // Take the request back if nobody accepted it meanwhile; it then completes without
        // calling the consumer.
        if let Some(pin) = req.leave(Leaving::Pending, false) {
            let taken = bucket(req.sk).unhook(&pin);
            // The request and the pin go with no lock held.
            drop((taken, pin));
            return Err(e);
        }
        // An agent took the request in the meantime: it will be completed.
    }
    tp::handshake_submit(net, req.id(), Some(req.sk));
    Counters::inc(&req.hnet.counters.submitted);
    Ok(())
}

/// Allocates a request for the pinned socket, queues it in `hn` and enters it in the table,
/// hooking the socket's destructor: all or nothing.
fn enqueue<P: Proto>(
    hn: Arc<HandshakeNet>,
    pin: SocketPin,
    proto: P,
    gfp: Gfp,
) -> Result<Arc<Request>> {
    let module = ModuleRef::get().ok_or(EOPNOTSUPP)?;
    let sk = pin.key();
    let guarded = LockedBy::new(
        &hn.queue,
        Guarded {
            state: State::Pending(pin),
            hook: None,
        },
    );
    // INVARIANT: `guarded` is guarded by `hnet`'s queue lock; the request is in no list yet.
    let req: ListArc<Request<P>> = ListArc::pin_init(
        pin_init!(Request {
            sk,
            hnet: hn,
            guarded,
            links <- ListLinksSelfPtr::new(),
            proto,
        }? Error),
        gfp.to_flags(),
    )?;
    let req: ListArc<Request> = req;

    // The locks are released before `req` is dropped on failure.
    let mut bucket = bucket(sk);
    let bucket = &mut *bucket;
    let mut queue = req.hnet.queue.lock();
    queue.admit(req.hnet.pending_max())?;
    if bucket.get(sk).is_some() {
        return Err(EBUSY);
    }
    let hooks = bucket.hooks.as_mut().ok_or(EOPNOTSUPP)?;
    // INVARIANT: `Pending` and queued together (taken off again if the hook cannot be
    // installed).
    let submitted = Instant::now();
    let deadline = req.hnet.deadline(submitted, req.proto.timeout_ms());
    queue.watch(req.clone_arc(), submitted, deadline)?;
    if let Err(e) = queue.push(req.clone_arc()) {
        let _ = queue.unwatch(&req);
        return Err(e);
    }
    let guarded = req.guarded.access_mut(&mut queue);
    let installed = match &guarded.state {
        State::Pending(pin) => hooks.install(pin, module),
        // Just created as `Pending`.
        _ => Err(EINVAL),
    };
    match installed {
        Ok(hook) => guarded.hook = Some(hook),
        Err(e) => {
            let _ = queue.remove(&req);
            let _ = queue.unwatch(&req);
            return Err(e);
        }
    }
    req.hnet.arm(&mut queue);
    drop(queue);
    let arc = req.clone_arc();
    // INVARIANT: In the table with its hook set, in the bucket of its socket.
    bucket.reqs.push_back(req);
    Ok(arc)
}

/// Cancels the request of `sk`: true if it was not completed yet, in which case the consumer's
/// callback will not run. Safe to call from softirq context and any number of times.
pub(crate) fn cancel(sk: &Sock) -> bool {
    let Some(req) = lookup(sk.key()) else {
        tp::handshake_cancel_none(sk.net(), ReqId::NONE, Some(sk.key()));
        return false;
    };
    if req.cancel() {
        true
    } else {
        tp::handshake_cancel_busy(sk.net(), req.id(), Some(sk.key()));
        false
    }
}

/// The request table's side of the socket destructor hook.
enum RequestTableHook {}

impl SockDestructor for RequestTableHook {
    /// Forgets the request of the socket being destroyed and hands back its hook.
    fn take_hook(sk: &Sock) -> Option<DestructHook<Self>> {
        let req = bucket(sk.key()).remove(sk.key())?.into_arc();
        tp::handshake_destruct(sk.net(), req.id(), Some(sk.key()));
        let mut queue = req.hnet.queue.lock();
        let guarded = req.guarded.access_mut(&mut queue);
        // The pin keeps the socket alive until the request is completed, so it is completed.
        kernel::warn_on!(!matches!(guarded.state, State::Completed { .. }));
        guarded.hook.take()
    }
}
