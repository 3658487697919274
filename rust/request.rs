// SPDX-License-Identifier: GPL-2.0

//! The life cycle of a handshake request.
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
//! The first two states own the request's [`FilePin`], the reference on the socket's file that
//! keeps the socket alive. Leaving them moves the pin out exactly once, under the locks, and
//! only the caller that moved it out may run the completion ([`Completion`]); everyone else gets
//! nothing. So a request cannot be completed twice, its file cannot be released twice, and the
//! consumer's callback runs at most once whoever wins the race.
//!
//! Lock order: the request table, then a namespace's queue, then a request's state. All three
//! are taken with bottom halves disabled because consumers cancel from softirq context.

use crate::{
    genl::{
        Gfp,
        Info, //
    },
    glue,
    net::Net,
    netlink::{
        self,
        HandshakeNet, //
    },
    socket::{
        DestructHook,
        FilePin,
        ModuleRef,
        SockKey,
        Socket, //
    },
    sync::{
        new_spinlock_bh,
        SpinLockBh,
        SpinLockBhBackend, //
    },
    trace, //
};
use core::{
    ffi::c_void,
    pin::Pin,
    sync::atomic::{
        AtomicU64,
        Ordering, //
    },
};
use kernel::{
    bindings,
    fs::File,
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNode,
        RBTreeNodeReservation, //
    },
    sync::{
        aref::ARef,
        Arc,
        GlobalGuard,
        GlobalLock,
        GlobalLockBackend,
        LockClassKey, //
    },
};

/// The class of agent that handles a request; also the multicast group it is announced on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum HandlerClass {
    /// `tlshd`, the TLS handshake agent.
    Tlshd,
}

impl HandlerClass {
    /// The class with wire value `value`; `none` and `max` are not classes.
    pub(crate) fn from_u32(value: u32) -> Option<Self> {
        match value {
            crate::genl_tables::handler_class::TLSHD => Some(HandlerClass::Tlshd),
            _ => None,
        }
    }

    /// The wire value, which is also the multicast group index.
    pub(crate) fn as_u32(self) -> u32 {
        match self {
            HandlerClass::Tlshd => crate::genl_tables::handler_class::TLSHD,
        }
    }
}

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

/// What a security protocol (TLS, or a test double) adds to the generic life cycle.
///
/// Dropping the protocol object is its destroy step: it happens when the request is freed.
pub(crate) trait Proto: Send + Sync {
    /// Which agents handle this request.
    fn class(&self) -> HandlerClass;

    /// Whether to announce the request on the multicast group (test doubles do not).
    fn notify(&self) -> bool {
        true
    }

    /// Builds and sends the ACCEPT reply for `req`, telling the agent to use `fd`.
    fn accept(&self, req: &Request, info: &Info<'_>, fd: u32) -> Result;

    /// Tells the consumer the outcome. Called exactly once per submitted request unless the
    /// consumer cancelled it successfully.
    fn done(&self, req: &Request, status: Status, info: Option<&Info<'_>>);
}

/// Where a request is in its life cycle.
enum State {
    /// Queued in its namespace, waiting for an agent.
    Pending(FilePin),
    /// Handed to an agent, waiting for DONE.
    Accepted(FilePin),
    /// Done, cancelled or drained; only the socket's destruction is left. `session` is true
    /// while a successful session exists and no close alert was sent.
    Completed { session: bool },
}

/// A handshake request.
///
/// # Invariants
///
/// - The request is in its namespace's queue if and only if its state is [`State::Pending`].
/// - While the state is `Pending` or `Accepted`, the pin keeps `sk`'s socket alive.
#[pin_data]
pub(crate) struct Request {
    sk: SockKey,
    seq: u64,
    hnet: Arc<HandshakeNet>,
    proto: KBox<dyn Proto>,
    #[pin]
    state: SpinLockBh<State>,
}

/// Orders requests in a queue (oldest first).
static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

impl Request {
    /// The socket this request is for, as a key.
    pub(crate) fn sk(&self) -> SockKey {
        self.sk
    }

    /// The protocol part of the request.
    pub(crate) fn proto(&self) -> &dyn Proto {
        &*self.proto
    }

    /// Takes a completed request's session flag: true once after a successful handshake.
    pub(crate) fn take_session(&self) -> bool {
        let mut state = self.state.lock();
        match &mut *state {
            State::Completed { session } => core::mem::replace(session, false),
            _ => false,
        }
    }

    /// Whether the request was completed (or cancelled).
    pub(crate) fn is_completed(&self) -> bool {
        matches!(*self.state.lock(), State::Completed { .. })
    }

    /// Leaves `Pending`/`Accepted` for `Completed`, removing the request from its queue.
    ///
    /// Returns the pin if this call made the transition, `None` if another caller did before.
    fn finish(&self, session: bool) -> Option<FilePin> {
        let mut queue = self.hnet.queue().lock();
        let mut state = self.state.lock();
        match core::mem::replace(&mut *state, State::Completed { session }) {
            State::Pending(pin) => {
                // INVARIANT: No longer pending, so no longer queued.
                let _ = queue.remove(self.seq);
                Some(pin)
            }
            State::Accepted(pin) => Some(pin),
            old @ State::Completed { .. } => {
                *state = old;
                None
            }
        }
    }

    /// Wins the right to complete the request, if nobody else did.
    pub(crate) fn try_complete(self: &Arc<Self>, status: Status) -> Option<Completion> {
        let pin = self.finish(status.is_ok())?;
        Some(Completion {
            req: self.clone(),
            pin,
            status,
        })
    }

    /// Completes the request with `status` unless it is already completed.
    pub(crate) fn complete(self: &Arc<Self>, status: Status, info: Option<&Info<'_>>) {
        if let Some(completion) = self.try_complete(status) {
            completion.run(info);
        }
    }

    /// Cancels the request for its consumer: true if this call won and `done` will not run.
    fn cancel(self: &Arc<Self>) -> bool {
        match self.finish(false) {
            Some(pin) => {
                trace::cancel(pin_net(&pin), self, self.sk);
                // The consumer still holds its own reference; releasing ours cannot free the
                // socket under it, and `fput` may be called from softirq context.
                drop(pin);
                true
            }
            None => false,
        }
    }

    /// Takes a pending request back after its announcement failed: true if it was still queued
    /// (nobody accepted it), in which case it is completed without calling the consumer.
    fn withdraw(&self) -> bool {
        let pin = {
            let mut queue = self.hnet.queue().lock();
            let mut state = self.state.lock();
            if !matches!(*state, State::Pending(_)) || queue.remove(self.seq).is_none() {
                return false;
            }
            match core::mem::replace(&mut *state, State::Completed { session: false }) {
                State::Pending(pin) => pin,
                // The match above excludes the other states.
                _ => return false,
            }
        };
        drop(pin);
        true
    }
}

/// The namespace of a pinned socket.
fn pin_net(pin: &FilePin) -> &Net {
    // SAFETY: The pin keeps the file and thus the socket alive, so its `private_data` is the
    // socket and `sk` and its namespace are valid.
    unsafe {
        let sock = (*pin.file().as_ptr())
            .private_data
            .cast::<bindings::socket>();
        Net::from_raw(glue::hs_sock_net((*sock).sk))
    }
}

/// The exclusive right to complete a request, held by whoever won the race.
///
/// Not `Clone`; [`Completion::run`] consumes it, calls the consumer once and then releases the
/// request's file pin.
#[must_use]
pub(crate) struct Completion {
    req: Arc<Request>,
    pin: FilePin,
    status: Status,
}

impl Completion {
    /// Calls the protocol's `done` (and through it the consumer), then releases the pin.
    pub(crate) fn run(self, info: Option<&Info<'_>>) {
        trace::complete(pin_net(&self.pin), &self.req, self.req.sk, self.status);
        self.req.proto.done(&self.req, self.status, info);
        drop(self.pin);
    }
}

/// The pending requests of one namespace, oldest first.
///
/// # Invariants
///
/// `pending` is the number of entries of `reqs`.
pub(crate) struct Queue {
    reqs: RBTree<u64, Arc<Request>>,
    pending: usize,
    max: usize,
    draining: bool,
}

impl Queue {
    /// An empty queue admitting up to `max` requests.
    pub(crate) fn new(max: usize) -> Self {
        Queue {
            reqs: RBTree::new(),
            pending: 0,
            max,
            draining: false,
        }
    }

    /// The number of pending requests.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// The limit of pending requests.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Changes the limit (module parameter, tests).
    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// Whether the namespace is going away.
    pub(crate) fn draining(&self) -> bool {
        self.draining
    }

    fn push(&mut self, node: RBTreeNode<u64, Arc<Request>>) {
        // INVARIANT: One more entry, counted.
        self.reqs.insert(node);
        self.pending += 1;
    }

    fn remove(&mut self, seq: u64) -> Option<Arc<Request>> {
        let req = self.reqs.remove(&seq)?;
        // INVARIANT: One entry fewer.
        self.pending -= 1;
        Some(req)
    }

    /// Removes the oldest request of `class`.
    fn pop_class(&mut self, class: HandlerClass) -> Option<Arc<Request>> {
        let mut cursor = self.reqs.cursor_front_mut()?;
        while cursor.current().1.proto.class() != class {
            cursor = cursor.move_next()?;
        }
        let (_, node) = cursor.remove_current();
        // INVARIANT: One entry fewer.
        self.pending -= 1;
        Some(node.to_key_value().1)
    }

    /// Removes the oldest request of any class.
    fn pop_front(&mut self) -> Option<Arc<Request>> {
        let cursor = self.reqs.cursor_front_mut()?;
        let (_, node) = cursor.remove_current();
        // INVARIANT: One entry fewer.
        self.pending -= 1;
        Some(node.to_key_value().1)
    }
}

/// Removes the oldest pending request of `class` from `hn` for an agent and moves it to
/// `Accepted`, returning it with a file reference of the agent's own.
///
/// The reference is taken under the lock, so a consumer that cancels and closes its socket right
/// after cannot free the file under the agent.
pub(crate) fn accept_next(
    hn: &HandshakeNet,
    class: HandlerClass,
) -> Option<(Arc<Request>, ARef<File>)> {
    let mut queue = hn.queue().lock();
    let req = queue.pop_class(class)?;
    let mut state = req.state.lock();
    let file = match core::mem::replace(&mut *state, State::Completed { session: false }) {
        State::Pending(pin) => {
            let file = pin.share();
            // INVARIANT: Out of the queue and no longer `Pending`.
            *state = State::Accepted(pin);
            file
        }
        // Queued requests are `Pending` by the invariant, so this does not happen; keep the
        // state as it was and report nothing pending.
        old => {
            *state = old;
            return None;
        }
    };
    drop(state);
    drop(queue);
    Some((req, file))
}

/// Completes every pending request of a namespace that is going away with `ETIMEDOUT` and
/// refuses new ones. Accepted requests finish when their sockets are destroyed.
pub(crate) fn drain(hn: &HandshakeNet) {
    hn.queue().lock().draining = true;
    loop {
        let next = {
            let mut queue = hn.queue().lock();
            let Some(req) = queue.pop_front() else {
                break;
            };
            let mut state = req.state.lock();
            let taken = match core::mem::replace(&mut *state, State::Completed { session: false }) {
                State::Pending(pin) => Some(pin),
                old => {
                    *state = old;
                    None
                }
            };
            drop(state);
            taken.map(|pin| Completion {
                req: req.clone(),
                pin,
                status: Status::from_error(ETIMEDOUT),
            })
        };
        if let Some(completion) = next {
            completion.run(None);
        }
    }
}

/// An entry of the request table: the request and the hook in its socket's destructor.
struct Entry {
    req: Arc<Request>,
    hook: DestructHook,
}

/// All live requests by socket.
///
/// # Invariants
///
/// A socket has an entry if and only if our destructor is installed in it.
pub(crate) struct RequestTable {
    tree: Option<RBTree<SockKey, Entry>>,
}

impl RequestTable {
    const fn new() -> Self {
        RequestTable { tree: None }
    }

    fn tree(&mut self) -> &mut RBTree<SockKey, Entry> {
        self.tree.get_or_insert_with(RBTree::new)
    }

    fn get(&self, sk: SockKey) -> Option<&Entry> {
        self.tree.as_ref()?.get(&sk)
    }

    fn remove(&mut self, sk: SockKey) -> Option<Entry> {
        self.tree.as_mut()?.remove(&sk)
    }

    /// Whether no request is alive.
    pub(crate) fn is_empty(&self) -> bool {
        self.tree.as_ref().is_none_or(|t| t.is_empty())
    }
}

/// The lock class and backend of [`REQUESTS`].
pub(crate) enum RequestTableLock {}

impl GlobalLockBackend for RequestTableLock {
    const NAME: &'static CStr = c"handshake_requests";
    type Item = RequestTable;
    type Backend = SpinLockBhBackend;

    fn get_lock_class() -> Pin<&'static LockClassKey> {
        kernel::static_lock_class!()
    }
}

/// The table of live requests, by socket.
// SAFETY: Initialised by `init` in module init before any use; this backend type is used for
// this lock only.
pub(crate) static REQUESTS: GlobalLock<RequestTableLock> =
    unsafe { GlobalLock::new(RequestTable::new()) };

/// Initialises the request table.
///
/// # Safety
///
/// Call once, from module init, before anything else uses the table.
pub(crate) unsafe fn init() {
    // SAFETY: Called once before any use (caller's guarantee).
    unsafe { REQUESTS.init() };
}

fn table() -> GlobalGuard<RequestTableLock> {
    REQUESTS.lock()
}

/// The request of socket `sk`, if any (pending, accepted or completed).
pub(crate) fn lookup(sk: SockKey) -> Option<Arc<Request>> {
    table().get(sk).map(|e| e.req.clone())
}

/// Whether any request is alive (used by tests and at unload).
pub(crate) fn table_is_empty() -> bool {
    table().is_empty()
}

/// Submits a handshake request for `sock`.
///
/// On success exactly one `done` follows unless the consumer cancels successfully; on failure
/// nothing of the request is left and `sk->sk_destruct` is what it was.
///
/// The caller must hold a reference on the socket's file for the duration of the call.
pub(crate) fn submit(sock: Option<&Socket>, proto: KBox<dyn Proto>, gfp: Gfp) -> Result {
    let sock = sock.ok_or(EINVAL)?;
    let file = sock.file().ok_or(EINVAL)?;
    let sk = sock.sk().ok_or(EINVAL)?;
    let net = sock.net().ok_or(EINVAL)?;
    let result = netlink::pernet(net)
        .ok_or(EOPNOTSUPP)
        .and_then(|hn| submit_to(&hn, net, file, sk, proto, gfp));
    if let Err(e) = result {
        trace::submit_err(net, &core::ptr::null::<c_void>(), sk, e);
    }
    result
}

/// Submits a request for socket `sk` (whose file is `file`) to the queue `hn` of namespace
/// `net`. See [`submit`].
pub(crate) fn submit_to(
    hn: &Arc<HandshakeNet>,
    net: &Net,
    file: &File,
    sk: SockKey,
    proto: KBox<dyn Proto>,
    gfp: Gfp,
) -> Result {
    let module = ModuleRef::get().ok_or(EOPNOTSUPP)?;
    let flags = gfp.to_flags();
    let class = proto.class();
    let announce = proto.notify();

    let hnet_ref = hn.clone();
    let req = Arc::pin_init(
        pin_init!(Request {
            sk,
            seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
            hnet: hnet_ref,
            proto,
            state <- new_spinlock_bh!(State::Pending(FilePin::new(file)), "handshake_request"),
        }),
        flags,
    )?;
    let queue_node = RBTreeNodeReservation::new(flags)?;
    let table_node = RBTreeNodeReservation::new(flags)?;

    {
        let mut table = table();
        let mut queue = hn.queue().lock();
        if queue.pending >= queue.max {
            return Err(EAGAIN);
        }
        if queue.draining {
            return Err(EOPNOTSUPP);
        }
        if table.get(sk).is_some() {
            return Err(EBUSY);
        }
        // INVARIANT: `Pending` and queued together.
        queue.push(queue_node.into_node(req.seq, req.clone()));
        // SAFETY: The caller holds the socket's file, so `sk` is alive now. The hook goes into
        // the table entry, which is removed either below while the socket is still alive (the
        // hook is dropped and restores the old destructor) or by our destructor, which fires it.
        let hook = unsafe { DestructHook::install(sk, sk_destruct, module) };
        // INVARIANT: Entry and hook together.
        table.tree().insert(table_node.into_node(
            sk,
            Entry {
                req: req.clone(),
                hook,
            },
        ));
    }

    if announce {
        if let Err(e) = netlink::notify(net, class, gfp) {
            trace::notify_err(net, &req, sk, e);
            if req.withdraw() {
                let entry = table().remove(sk);
                // Dropping the entry restores the destructor and releases the module reference.
                drop(entry);
                return Err(e);
            }
            // An agent took the request in the meantime: it will be completed.
        }
    }
    trace::submit(net, &req, sk);
    Ok(())
}

/// Cancels the request of `sk`: true if it was not completed yet, in which case the consumer's
/// callback will not run. Safe to call from softirq context and any number of times.
pub(crate) fn cancel(sk: SockKey, net: &Net) -> bool {
    let Some(req) = lookup(sk) else {
        trace::cancel_none(net, &core::ptr::null::<c_void>(), sk);
        return false;
    };
    if req.cancel() {
        true
    } else {
        trace::cancel_busy(net, &req, sk);
        false
    }
}

/// Our `sk_destruct`: forgets the request of the socket and chains to the saved destructor.
///
/// # Safety
///
/// Installed by [`DestructHook::install`]; called by the socket core only, once, with the
/// socket being destroyed.
unsafe extern "C" fn sk_destruct(sk: *mut bindings::sock) {
    let Some(key) = SockKey::from_raw(sk) else {
        return;
    };
    let entry = table().remove(key);
    // The hook is installed only together with an entry, so there always is one.
    let Some(Entry { req, hook }) = entry else {
        return;
    };
    // SAFETY: The socket is being destroyed, but it and its namespace are still valid while its
    // destructors run.
    let net = unsafe { Net::from_raw(glue::hs_sock_net(sk)) };
    trace::destruct(net, &req, key);
    // The pin keeps the socket alive until the request is completed, so it is completed now.
    if !req.is_completed() {
        pr_warn!("socket destroyed under a live handshake request\n");
    }
    drop(req);
    // SAFETY: This is our destructor running for the socket the hook was installed on.
    unsafe { hook.fire() };
}
