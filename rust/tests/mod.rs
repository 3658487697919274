// SPDX-License-Identifier: GPL-2.0

//! KUnit suites of the service, built only with `CONFIG_HANDSHAKE_RS_KUNIT_TEST`; they run
//! when the module is inserted (and again through `/sys/kernel/debug/kunit/<suite>/run`).
//!
//! `handshake_api` (api.rs) mirrors the C service's `net/handshake/handshake-test.c` case by
//! case; `handshake_tls` (tls.rs) covers the TLS protocol and the consumer API;
//! `handshake_lifetime` (lifetime.rs) the races and lifetime rules, including the known C bugs
//! that a unit test can reproduce; `handshake_genl` (genl.rs) the family's tables. The checks of
//! an abstraction on its own sit next to it (`rust/abstractions/`).
//!
//! The suites never touch the service's live state: every request goes to a queue of the
//! suite's own ([`test_hn`]), announcements go to a closure instead of the family, and the only
//! namespace they take through its exit is a second registration's ([`DrainNet`]). Requests of
//! real consumers, in any namespace, are left alone while the suites run.

use crate::{
    abstractions::{
        genl::Gfp,
        keys::KeySerial,
        net::{
            Net,
            Pernet,
            PernetData, //
        },
        socket::{
            file_count,
            Sock,
            SockKey,
            Socket,
            DESTRUCT_SHARDS, //
        },
    },
    capi::TlsHandshakeArgs,
    genl_tables::HandlerClass,
    request::{
        self,
        HandshakeNet,
        Proto,
        Request,
        Status, //
    },
    tlshd::{
        Consumer,
        HelloArgs, //
    },
};
use core::{
    ffi::{
        c_int,
        c_void, //
    },
    ptr::NonNull,
    sync::atomic::{
        AtomicBool,
        AtomicI32,
        AtomicU32,
        Ordering, //
    },
};
use kernel::{
    bindings,
    error::{
        from_err_ptr,
        to_result, //
    },
    fs::File,
    prelude::*,
    sync::{
        aref::ARef,
        Arc, //
    },
};

mod api;
mod genl;
mod lifetime;
mod tls;

/// What a test double saw.
#[derive(Default)]
pub(super) struct Recorder {
    pub(super) calls: AtomicU32,
    pub(super) status: AtomicI32,
    pub(super) peerid: AtomicI32,
    pub(super) destroyed: AtomicBool,
    /// What the `done` of a [`cancelling_proto`] got from its cancel: 0 not tried, 1 false,
    /// 2 true.
    pub(super) cancelled: AtomicU32,
}

impl Recorder {
    pub(super) fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default(), GFP_KERNEL).expect("no memory for a recorder")
    }

    pub(super) fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    pub(super) fn status(&self) -> i32 {
        self.status.load(Ordering::SeqCst)
    }

    pub(super) fn destroyed(&self) -> bool {
        self.destroyed.load(Ordering::SeqCst)
    }
}

/// A sock another test double cancels; the test keeps its socket alive meanwhile.
#[derive(Clone, Copy)]
struct SockPtr(NonNull<bindings::sock>);

// SAFETY: Only used to cancel, from the test's own threads, while the test holds the socket.
unsafe impl Send for SockPtr {}
// SAFETY: As above.
unsafe impl Sync for SockPtr {}

/// A protocol that records instead of talking to an agent.
struct TestProto {
    rec: Arc<Recorder>,
    /// A socket whose request `done` cancels, as a consumer tearing down a sibling would.
    cancel_on_done: Option<SockPtr>,
}

impl Proto for TestProto {
    fn class(&self) -> HandlerClass {
        HandlerClass::Tlshd
    }

    fn accept(&self, _info: &crate::abstractions::genl::Info<'_>, _fd: u32) -> Result {
        Ok(())
    }

    fn done(&self, status: Status, _info: Option<&crate::abstractions::genl::Info<'_>>) {
        self.rec.calls.fetch_add(1, Ordering::SeqCst);
        self.rec.status.store(status.to_errno(), Ordering::SeqCst);
        if let Some(sk) = self.cancel_on_done {
            // SAFETY: The test keeps the socket alive until its requests are done.
            let won = request::cancel(unsafe { Sock::from_raw(sk.0.as_ptr()) });
            self.rec
                .cancelled
                .store(if won { 2 } else { 1 }, Ordering::SeqCst);
        }
    }
}

impl Drop for TestProto {
    fn drop(&mut self) {
        self.rec.destroyed.store(true, Ordering::SeqCst);
    }
}

pub(super) fn test_proto(rec: &Arc<Recorder>) -> KBox<dyn Proto> {
    KBox::new(
        TestProto {
            rec: rec.clone(),
            cancel_on_done: None,
        },
        GFP_KERNEL,
    )
    .expect("no memory for a test protocol")
}

/// A test protocol whose `done` cancels the request of `ts`.
pub(super) fn cancelling_proto(rec: &Arc<Recorder>, ts: &TestSocket) -> KBox<dyn Proto> {
    KBox::new(
        TestProto {
            rec: rec.clone(),
            cancel_on_done: Some(SockPtr(NonNull::from(ts.sk()).cast())),
        },
        GFP_KERNEL,
    )
    .expect("no memory for a test protocol")
}

/// A consumer of the TLS protocol recording what it is told.
pub(super) struct RecConsumer(pub(super) Arc<Recorder>);

impl Consumer for RecConsumer {
    fn done(&self, status: i32, peerid: KeySerial) {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        self.0.status.store(status, Ordering::SeqCst);
        self.0.peerid.store(peerid, Ordering::SeqCst);
    }
}

/// The arguments of a hello with nothing but a recording consumer.
pub(super) fn hello_args(rec: &Arc<Recorder>) -> HelloArgs<'static, RecConsumer> {
    HelloArgs {
        consumer: RecConsumer(rec.clone()),
        peername: None,
        timeout_ms: 0,
        keyring: 0,
        my_cert: 0,
        my_privkey: 0,
        my_peerids: [0; 5],
        num_peerids: 0,
    }
}

/// Per-namespace state of a second registration of the service's namespace exit, so that a
/// test can take a real namespace through the core's `pre_exit`, grace period and `exit`
/// while the service itself stays registered.
pub(super) struct DrainNet {
    pub(super) hn: Arc<HandshakeNet>,
}

pub(super) static DRAIN_PERNET: Pernet<DrainNet> = Pernet::new();
/// Exits of [`DrainNet`] so far.
pub(super) static DRAIN_EXITS: AtomicU32 = AtomicU32::new(0);

impl PernetData for DrainNet {
    fn pernet() -> &'static Pernet<Self> {
        &DRAIN_PERNET
    }

    fn init(_net: &Net) -> Result<Arc<Self>> {
        let hn = HandshakeNet::new(5)?;
        Ok(Arc::new(DrainNet { hn }, GFP_KERNEL)?)
    }

    fn exit(this: &Arc<Self>, _net: &Net) {
        DRAIN_EXITS.fetch_add(1, Ordering::SeqCst);
        this.hn.drain();
    }
}

/// A kernel TCP socket with a file, in the initial namespace.
///
/// # Invariants
///
/// `sock` is a live socket and `file` its file, on which we hold the initial reference.
pub(super) struct TestSocket {
    sock: NonNull<bindings::socket>,
    file: NonNull<bindings::file>,
}

/// A new kernel TCP socket in `init_net`, with no file; the caller releases it.
pub(super) fn raw_tcp_socket() -> Result<*mut bindings::socket> {
    let mut sock = core::ptr::null_mut();
    // SAFETY: `init_net` is alive; `sock` is a valid out pointer.
    to_result(unsafe {
        bindings::__sock_create(
            &raw mut bindings::init_net,
            bindings::PF_INET as c_int,
            bindings::sock_type_SOCK_STREAM as c_int,
            bindings::IPPROTO_TCP as c_int,
            &mut sock,
            1,
        )
    })?;
    Ok(sock)
}

impl TestSocket {
    pub(super) fn new() -> Result<Self> {
        let sock = raw_tcp_socket()?;
        // SAFETY: `sock` is new and has no file; on failure the call releases it.
        let file = from_err_ptr(unsafe {
            bindings::sock_alloc_file(sock, bindings::O_NONBLOCK as c_int, core::ptr::null())
        })?;
        // INVARIANT: Both were just created and the reference is ours.
        Ok(TestSocket {
            sock: NonNull::new(sock).ok_or(ENOMEM)?,
            file: NonNull::new(file).ok_or(ENOMEM)?,
        })
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::socket {
        self.sock.as_ptr()
    }

    pub(super) fn socket(&self) -> &Socket {
        // SAFETY: Alive, and its file held, by the type invariant.
        unsafe { Socket::from_raw(self.sock.as_ptr()) }
    }

    pub(super) fn file(&self) -> &File {
        // SAFETY: Alive by the type invariant.
        unsafe { File::from_raw_file(self.file.as_ptr()) }
    }

    pub(super) fn count(&self) -> i64 {
        file_count(self.file())
    }

    pub(super) fn sk(&self) -> &Sock {
        self.socket().sk().expect("a TCP socket has a sock")
    }

    pub(super) fn key(&self) -> SockKey {
        self.sk().key()
    }

    /// The address of the socket's current destructor.
    pub(super) fn destructor(&self) -> Option<usize> {
        self.sk().destructor_addr()
    }

    /// Releases the socket now and waits for its destruction, however it is deferred.
    pub(super) fn close(self) {
        let key = self.key();
        let file = self.file;
        core::mem::forget(self);
        // SAFETY: We own the initial reference; the release runs synchronously.
        unsafe { bindings::__fput_sync(file.as_ptr()) };
        if request::lookup(key).is_some() {
            // The sock is freed after a grace period for some protocols.
            // SAFETY: Process context.
            unsafe { bindings::rcu_barrier() };
        }
    }
}

impl Drop for TestSocket {
    fn drop(&mut self) {
        // SAFETY: We own the initial reference.
        unsafe { bindings::__fput_sync(self.file.as_ptr()) };
    }
}

/// A queue of the suites' own, admitting `max` requests: nothing here touches the service's
/// state of any namespace.
pub(super) fn test_hn(max: usize) -> Arc<HandshakeNet> {
    HandshakeNet::new(max).expect("no memory for a test queue")
}

/// An announcement that reaches nobody and succeeds, as if an agent listened.
pub(super) fn no_announce(_net: &Net, _class: HandlerClass, _gfp: Gfp) -> Result {
    Ok(())
}

/// Submits a recording request for `ts` to `hn`.
pub(super) fn submit(hn: &Arc<HandshakeNet>, ts: &TestSocket, rec: &Arc<Recorder>) -> Result {
    request::submit_to(hn, ts.socket(), test_proto(rec), Gfp::KERNEL, no_announce)
}

/// A new socket with a request submitted on it to `hn`: the socket, the consumer's recorder and
/// the socket file's count before the submit.
pub(super) fn submitted(hn: &Arc<HandshakeNet>) -> Result<(TestSocket, Arc<Recorder>, i64)> {
    let ts = TestSocket::new()?;
    let rec = Recorder::new();
    let before = ts.count();
    submit(hn, &ts, &rec)?;
    Ok((ts, rec, before))
}

pub(super) fn accept_next(hn: &HandshakeNet) -> Option<(Arc<Request>, ARef<File>)> {
    hn.accept_next(HandlerClass::Tlshd)
}

/// A consumer callback for the C API, recording into the `Recorder` given as data.
///
/// # Safety
///
/// `data` must point to a live [`Recorder`].
pub(super) unsafe extern "C" fn consumer_done(data: *mut c_void, status: c_int, peerid: KeySerial) {
    // SAFETY: Tests pass a live `Recorder` as data.
    let rec = unsafe { &*data.cast::<Recorder>() };
    rec.calls.fetch_add(1, Ordering::SeqCst);
    rec.status.store(status, Ordering::SeqCst);
    rec.peerid.store(peerid, Ordering::SeqCst);
}

/// Arguments of the C API for `ts`, reporting to `rec`.
pub(super) fn args_for(ts: Option<&TestSocket>, rec: &Arc<Recorder>) -> TlsHandshakeArgs {
    TlsHandshakeArgs {
        ta_sock: ts.map_or(core::ptr::null_mut(), |t| t.as_ptr()),
        ta_done: Some(consumer_done),
        ta_data: Arc::as_ptr(rec).cast_mut().cast(),
        ta_peername: core::ptr::null(),
        ta_timeout_ms: 0,
        ta_keyring: 0,
        ta_my_cert: 0,
        ta_my_privkey: 0,
        ta_num_peerids: 0,
        ta_my_peerids: [0; 5],
    }
}

/// The reference count of this module.
pub(super) fn module_refs() -> i32 {
    // SAFETY: Our own module is alive.
    unsafe { bindings::module_refcount(crate::abstractions::module::THIS_MODULE.as_ptr()) }
}
