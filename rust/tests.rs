// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the service; they run when the module is inserted.
//!
//! `handshake_api` mirrors the C service's `net/handshake/handshake-test.c` case by case;
//! `handshake_tls` covers the TLS protocol and the consumer API; `handshake_lifetime` the races
//! and lifetime rules (including the known C bugs that a unit test can reproduce);
//! `handshake_genl` the netlink tables.

use crate::{
    genl::{
        Gfp,
        Info,
        Message,
        MessageAttrs,
        RawAttr, //
    },
    genl_tables::{
        self as tables,
        attr_accept,
        attr_x509,
        auth,
        cmd,
        msg_type, //
    },
    glue::KeySerial,
    net::{
        Net,
        Pernet,
        PernetData, //
    },
    netlink::{
        self,
        HandshakeNet,
        FAMILY, //
    },
    request::{
        self,
        HandlerClass,
        Proto,
        Request,
        Status, //
    },
    socket::{
        file_count,
        sk_destruct_of,
        SockKey,
        Socket, //
    },
    tlshd::{
        self,
        Hello,
        TlsHandshakeArgs,
        TlsRequest, //
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
    sync::Arc,
    ModuleMetadata, //
};

/// What a test double saw.
#[derive(Default)]
struct Recorder {
    calls: AtomicU32,
    status: AtomicI32,
    peerid: AtomicI32,
    destroyed: AtomicBool,
    /// What the `done` of a [`cancelling_proto`] got from its cancel: 0 not tried, 1 false,
    /// 2 true.
    cancelled: AtomicU32,
}

impl Recorder {
    fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default(), GFP_KERNEL).expect("no memory for a recorder")
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    fn status(&self) -> i32 {
        self.status.load(Ordering::SeqCst)
    }
}

/// A protocol that records instead of talking to an agent.
struct TestProto {
    rec: Arc<Recorder>,
    fail_accept: bool,
    /// A socket whose request `done` cancels, as a consumer tearing down a sibling would.
    cancel_on_done: Option<SockKey>,
}

impl Proto for TestProto {
    fn class(&self) -> HandlerClass {
        HandlerClass::Tlshd
    }

    fn notify(&self) -> bool {
        false
    }

    fn accept(&self, _req: &Request, _info: &Info<'_>, _fd: u32) -> Result {
        if self.fail_accept {
            Err(EMSGSIZE)
        } else {
            Ok(())
        }
    }

    fn done(&self, _req: &Request, status: Status, _info: Option<&Info<'_>>) {
        self.rec.calls.fetch_add(1, Ordering::SeqCst);
        self.rec.status.store(status.to_errno(), Ordering::SeqCst);
        if let Some(sk) = self.cancel_on_done {
            let won = request::cancel(sk, Net::init_net());
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

fn test_proto(rec: &Arc<Recorder>) -> KBox<dyn Proto> {
    KBox::new(
        TestProto {
            rec: rec.clone(),
            fail_accept: false,
            cancel_on_done: None,
        },
        GFP_KERNEL,
    )
    .expect("no memory for a test protocol")
}

/// A test protocol whose `done` cancels the request of `sk` (in the initial namespace).
fn cancelling_proto(rec: &Arc<Recorder>, sk: SockKey) -> KBox<dyn Proto> {
    KBox::new(
        TestProto {
            rec: rec.clone(),
            fail_accept: false,
            cancel_on_done: Some(sk),
        },
        GFP_KERNEL,
    )
    .expect("no memory for a test protocol")
}

/// Per-namespace state of a second registration of the service's namespace exit, so that a
/// test can take a real namespace through the core's `pre_exit`, grace period and `exit`
/// while the service itself stays registered.
struct DrainNet {
    hn: Arc<HandshakeNet>,
}

static DRAIN_PERNET: Pernet<DrainNet> = Pernet::new();
/// Exits of [`DrainNet`] so far.
static DRAIN_EXITS: AtomicU32 = AtomicU32::new(0);

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
        netlink::exit_net(&this.hn);
    }
}

/// A kernel TCP socket with a file, in the initial namespace.
///
/// # Invariants
///
/// `sock` is a live socket and `file` its file, on which we hold the initial reference.
struct TestSocket {
    sock: NonNull<bindings::socket>,
    file: NonNull<bindings::file>,
}

/// A new kernel TCP socket in `init_net`, with no file; the caller releases it.
fn raw_tcp_socket() -> Result<*mut bindings::socket> {
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
    fn new() -> Result<Self> {
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

    fn socket(&self) -> &Socket {
        // SAFETY: Alive by the type invariant.
        unsafe { Socket::from_raw(self.sock.as_ptr()) }
    }

    fn file(&self) -> &File {
        // SAFETY: Alive by the type invariant.
        unsafe { File::from_raw_file(self.file.as_ptr()) }
    }

    fn count(&self) -> i64 {
        file_count(self.file())
    }

    fn sk(&self) -> SockKey {
        self.socket().sk().expect("a TCP socket has a sock")
    }

    fn sk_raw(&self) -> *mut bindings::sock {
        self.sk().as_ptr()
    }

    /// Releases the socket now and waits for its destruction, however it is deferred.
    fn close(self) {
        let sk = self.sk();
        let file = self.file;
        core::mem::forget(self);
        // SAFETY: We own the initial reference; the release runs synchronously.
        unsafe { bindings::__fput_sync(file.as_ptr()) };
        if request::lookup(sk).is_some() {
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

/// The address of the socket's current destructor (function pointers compare by address).
fn destruct_addr(ts: &TestSocket) -> Option<usize> {
    sk_destruct_of(ts.socket()).map(|f| f as usize)
}

fn init_hn() -> Arc<HandshakeNet> {
    netlink::pernet(Net::init_net()).expect("init_net has handshake state")
}

fn submit(ts: &TestSocket, rec: &Arc<Recorder>) -> Result {
    request::submit(Some(ts.socket()), test_proto(rec), Gfp::KERNEL)
}

/// A new socket with a request submitted on it: the socket, the consumer's recorder and the
/// socket file's count before the submit.
fn submitted() -> Result<(TestSocket, Arc<Recorder>, i64)> {
    let ts = TestSocket::new()?;
    let rec = Recorder::new();
    let before = ts.count();
    submit(&ts, &rec)?;
    Ok((ts, rec, before))
}

fn accept_next(hn: &HandshakeNet) -> Option<(Arc<Request>, kernel::sync::aref::ARef<File>)> {
    request::accept_next(hn, HandlerClass::Tlshd)
}

/// A consumer callback for the C API, recording into the `Recorder` given as data.
///
/// # Safety
///
/// `data` must point to a live [`Recorder`].
unsafe extern "C" fn consumer_done(data: *mut c_void, status: c_int, peerid: KeySerial) {
    // SAFETY: Tests pass a live `Recorder` as data.
    let rec = unsafe { &*data.cast::<Recorder>() };
    rec.calls.fetch_add(1, Ordering::SeqCst);
    rec.status.store(status, Ordering::SeqCst);
    rec.peerid.store(peerid, Ordering::SeqCst);
}

fn args_for(ts: Option<&TestSocket>, rec: &Arc<Recorder>) -> TlsHandshakeArgs {
    TlsHandshakeArgs {
        ta_sock: ts.map_or(core::ptr::null_mut(), |t| t.sock.as_ptr()),
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

fn module_refs() -> i32 {
    let this = <crate::HandshakeModule as ModuleMetadata>::THIS_MODULE;
    // SAFETY: Our own module is alive.
    unsafe { bindings::module_refcount(this.as_ptr()) }
}

/// Attributes of a reply built for `treq` with descriptor 7.
fn reply_of(treq: &TlsRequest) -> Result<Message> {
    let mut msg = Message::new_notify(&FAMILY, cmd::ACCEPT, Gfp::KERNEL)?;
    treq.fill_reply(&mut msg, 7)?;
    Ok(msg)
}

fn find(attrs: MessageAttrs<'_>, attrtype: u16) -> Option<RawAttr<'_>> {
    attrs.into_iter().find(|a| a.attrtype == attrtype)
}

fn count_of(attrs: MessageAttrs<'_>, attrtype: u16) -> usize {
    attrs.filter(|a| a.attrtype == attrtype).count()
}

/// The u32 value of the first `attrtype` attribute of a reply.
fn u32_of(msg: &Message, attrtype: u16) -> Option<u32> {
    find(msg.attrs(), attrtype).and_then(|a| a.u32())
}

/// The (certificate, private key) of a reply's X.509 nest.
fn x509_of(msg: &Message) -> Result<(Option<i32>, Option<i32>)> {
    let nest = find(msg.attrs(), attr_accept::CERTIFICATE).ok_or(EINVAL)?;
    Ok((
        find(nest.nested(), attr_x509::CERT).and_then(|a| a.s32()),
        find(nest.nested(), attr_x509::PRIVKEY).and_then(|a| a.s32()),
    ))
}

#[kunit_tests(handshake_api)]
mod api {
    use super::*;

    // Counterparts of "req_alloc API fuzzing": a request needs a protocol with a valid class
    // and both callbacks; in Rust a protocol without callbacks does not compile, what remains
    // is checked here.
    #[test]
    fn req_alloc_class_none() {
        assert!(HandlerClass::from_u32(tables::handler_class::NONE).is_none());
    }

    #[test]
    fn req_alloc_class_max() {
        assert!(HandlerClass::from_u32(tables::handler_class::MAX).is_none());
    }

    #[test]
    fn req_alloc_all_good() {
        assert_eq!(
            HandlerClass::from_u32(tables::handler_class::TLSHD),
            Some(HandlerClass::Tlshd)
        );
    }

    #[test]
    fn req_alloc_null_proto() {
        // No arguments at all (the C case passes no protocol).
        // SAFETY: A null pointer is handled.
        let ret = unsafe { tlshd::tls_client_hello_anon(core::ptr::null(), bindings::GFP_KERNEL) };
        assert_eq!(ret, EINVAL.to_errno());
    }

    #[test]
    fn req_alloc_no_callbacks() -> Result {
        // Arguments with nothing filled in but the socket: no callback, no data.
        let ts = TestSocket::new()?;
        let before = ts.count();
        let rec = Recorder::new();
        let mut args = args_for(Some(&ts), &rec);
        args.ta_done = None;
        args.ta_data = core::ptr::null_mut();
        // SAFETY: `args` is valid.
        let ret = unsafe { tlshd::tls_server_hello_x509(&args, bindings::GFP_KERNEL) };
        assert_eq!(ret, EINVAL.to_errno());
        assert_eq!(ts.count(), before);
        assert!(request::lookup(ts.sk()).is_none());
        Ok(())
    }

    #[test]
    fn req_alloc_no_done_callback() -> Result {
        let rec = Recorder::new();
        let mut args = args_for(None, &rec);
        args.ta_done = None;
        assert!(TlsRequest::new(&args, Hello::ClientAnon, Gfp::KERNEL).is_err());
        Ok(())
    }

    #[test]
    fn req_alloc_excessive_size() {
        // An allocation that cannot succeed fails cleanly instead of warning or crashing.
        let v = KVec::<u8>::with_capacity(usize::MAX / 4, GFP_KERNEL | __GFP_NOWARN);
        assert!(v.is_err());
    }

    #[test]
    fn req_submit_null_req() -> Result {
        // The C case passes a NULL request; the Rust counterpart is an invalid one.
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let before = ts.count();
        let saved = destruct_addr(&ts);
        let mut args = args_for(Some(&ts), &rec);
        args.ta_done = None;
        // SAFETY: `args` is valid.
        let ret = unsafe { tlshd::tls_client_hello_anon(&args, bindings::GFP_KERNEL) };
        assert_eq!(ret, EINVAL.to_errno());
        assert_eq!(ts.count(), before);
        assert!(destruct_addr(&ts) == saved);
        Ok(())
    }

    #[test]
    fn req_submit_null_sock() {
        let rec = Recorder::new();
        let args = args_for(None, &rec);
        // SAFETY: `args` is valid.
        let ret = unsafe { tlshd::tls_client_hello_anon(&args, bindings::GFP_KERNEL) };
        assert_eq!(ret, EINVAL.to_errno());
        assert_eq!(rec.calls(), 0);
    }

    #[test]
    fn req_submit_null_file() -> Result {
        let sock = raw_tcp_socket()?;
        let rec = Recorder::new();
        // SAFETY: `sock` is alive until released below.
        let result = request::submit(
            Some(unsafe { Socket::from_raw(sock) }),
            test_proto(&rec),
            Gfp::KERNEL,
        );
        assert_eq!(result, Err(EINVAL));
        // SAFETY: The socket has no file; release it directly.
        unsafe { bindings::sock_release(sock) };
        Ok(())
    }

    #[test]
    fn req_lookup_works() -> Result {
        let (ts, _rec, before) = submitted()?;
        assert_eq!(ts.count(), before + 1);
        let found = request::lookup(ts.sk());
        assert!(found.is_some());
        assert!(found.map(|r| r.sk()) == Some(ts.sk()));
        assert!(request::cancel(ts.sk(), Net::init_net()));
        assert_eq!(ts.count(), before);
        ts.close();
        Ok(())
    }

    #[test]
    fn req_submit_max_pending() -> Result {
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let hn = init_hn();
        let saved_max = {
            let mut q = hn.queue().lock();
            let m = q.max();
            let pending = q.pending();
            q.set_max(pending);
            m
        };
        let before = ts.count();
        let saved = destruct_addr(&ts);
        let result = submit(&ts, &rec);
        hn.queue().lock().set_max(saved_max);
        assert_eq!(result, Err(EAGAIN));
        assert_eq!(ts.count(), before);
        // Known bug 9: the destructor must not stay hooked after a failed submit.
        assert!(destruct_addr(&ts) == saved);
        assert!(request::lookup(ts.sk()).is_none());
        Ok(())
    }

    #[test]
    fn req_submit_multiple() -> Result {
        let (ts, rec, before) = submitted()?;
        assert_eq!(ts.count(), before + 1);
        assert_eq!(submit(&ts, &rec), Err(EBUSY));
        assert_eq!(ts.count(), before + 1);
        assert!(request::cancel(ts.sk(), Net::init_net()));
        assert_eq!(ts.count(), before);
        ts.close();
        Ok(())
    }

    #[test]
    fn req_cancel_before_accept() -> Result {
        let (ts, rec, before) = submitted()?;
        assert_eq!(ts.count(), before + 1);
        assert!(request::cancel(ts.sk(), Net::init_net()));
        assert_eq!(ts.count(), before);
        assert_eq!(rec.calls(), 0);
        ts.close();
        Ok(())
    }

    #[test]
    fn req_cancel_after_accept() -> Result {
        let (ts, rec, before) = submitted()?;
        let (req, agent_file) = accept_next(&init_hn()).ok_or(EAGAIN)?;
        assert!(req.sk() == ts.sk());
        // The agent's descriptor consumes its reference.
        drop(agent_file);
        assert!(request::cancel(ts.sk(), Net::init_net()));
        assert_eq!(ts.count(), before);
        assert_eq!(rec.calls(), 0);
        drop(req);
        ts.close();
        Ok(())
    }

    #[test]
    fn req_cancel_after_done() -> Result {
        let (ts, rec, before) = submitted()?;
        let (req, agent_file) = accept_next(&init_hn()).ok_or(EAGAIN)?;
        drop(agent_file);
        req.complete(Status::from_error(ETIMEDOUT), None);
        assert_eq!(ts.count(), before);
        assert!(!request::cancel(ts.sk(), Net::init_net()));
        assert_eq!(ts.count(), before);
        assert_eq!(rec.calls(), 1);
        assert_eq!(rec.status(), ETIMEDOUT.to_errno());
        drop(req);
        ts.close();
        Ok(())
    }

    #[test]
    fn req_destroy_works() -> Result {
        let (ts, rec, before) = submitted()?;
        assert!(request::cancel(ts.sk(), Net::init_net()));
        assert_eq!(ts.count(), before);
        let sk = ts.sk();
        ts.close();
        assert!(rec.destroyed.load(Ordering::SeqCst));
        assert!(request::lookup(sk).is_none());
        Ok(())
    }
}

#[kunit_tests(handshake_tls)]
mod tls {
    use super::*;

    fn args() -> (Arc<Recorder>, TlsHandshakeArgs) {
        let rec = Recorder::new();
        let a = args_for(None, &rec);
        (rec, a)
    }

    #[test]
    fn reply_anon() -> Result {
        let (_rec, mut a) = args();
        a.ta_peername = c"server.example".as_char_ptr().cast();
        a.ta_timeout_ms = 5000;
        a.ta_keyring = 42;
        let treq = TlsRequest::new(&a, Hello::ClientAnon, Gfp::KERNEL)?;
        let msg = reply_of(&treq)?;
        assert_eq!(
            find(msg.attrs(), attr_accept::SOCKFD).and_then(|a| a.s32()),
            Some(7)
        );
        assert_eq!(
            u32_of(&msg, attr_accept::MESSAGE_TYPE),
            Some(msg_type::CLIENTHELLO)
        );
        assert_eq!(u32_of(&msg, attr_accept::AUTH_MODE), Some(auth::UNAUTH));
        assert_eq!(u32_of(&msg, attr_accept::TIMEOUT), Some(5000));
        assert_eq!(u32_of(&msg, attr_accept::KEYRING), Some(42));
        let name = find(msg.attrs(), attr_accept::PEERNAME).map(|a| a.payload);
        assert_eq!(name, Some(&b"server.example\0"[..]));
        assert_eq!(count_of(msg.attrs(), attr_accept::PEER_IDENTITY), 0);
        assert_eq!(count_of(msg.attrs(), attr_accept::CERTIFICATE), 0);
        Ok(())
    }

    #[test]
    fn reply_optional_attrs_absent() -> Result {
        let (_rec, a) = args();
        let treq = TlsRequest::new(&a, Hello::ClientAnon, Gfp::KERNEL)?;
        let msg = reply_of(&treq)?;
        assert!(find(msg.attrs(), attr_accept::PEERNAME).is_none());
        assert!(find(msg.attrs(), attr_accept::TIMEOUT).is_none());
        assert!(find(msg.attrs(), attr_accept::KEYRING).is_none());
        assert!(find(msg.attrs(), attr_accept::SOCKFD).is_some());
        Ok(())
    }

    #[test]
    fn reply_client_x509() -> Result {
        let (_rec, mut a) = args();
        a.ta_my_cert = 100;
        a.ta_my_privkey = 101;
        let treq = TlsRequest::new(&a, Hello::ClientX509, Gfp::KERNEL)?;
        let msg = reply_of(&treq)?;
        assert_eq!(u32_of(&msg, attr_accept::AUTH_MODE), Some(auth::X509));
        assert_eq!(count_of(msg.attrs(), attr_accept::CERTIFICATE), 1);
        assert_eq!(x509_of(&msg)?, (Some(100), Some(101)));
        Ok(())
    }

    #[test]
    fn reply_x509_without_keys_has_no_nest() -> Result {
        let (_rec, a) = args();
        let treq = TlsRequest::new(&a, Hello::ClientX509, Gfp::KERNEL)?;
        let msg = reply_of(&treq)?;
        assert_eq!(count_of(msg.attrs(), attr_accept::CERTIFICATE), 0);
        Ok(())
    }

    #[test]
    fn reply_server_x509() -> Result {
        let (_rec, mut a) = args();
        a.ta_my_cert = 5;
        let treq = TlsRequest::new(&a, Hello::ServerX509, Gfp::KERNEL)?;
        let msg = reply_of(&treq)?;
        assert_eq!(
            u32_of(&msg, attr_accept::MESSAGE_TYPE),
            Some(msg_type::SERVERHELLO)
        );
        assert_eq!(x509_of(&msg)?, (Some(5), Some(0)));
        Ok(())
    }

    #[test]
    fn reply_client_psk_peer_ids() -> Result {
        let (_rec, mut a) = args();
        a.ta_num_peerids = 3;
        a.ta_my_peerids = [11, 12, 13, 14, 15];
        let treq = TlsRequest::new(&a, Hello::ClientPsk, Gfp::KERNEL)?;
        let msg = reply_of(&treq)?;
        assert_eq!(u32_of(&msg, attr_accept::AUTH_MODE), Some(auth::PSK));
        let mut ids = KVec::new();
        for attr in msg
            .attrs()
            .filter(|a| a.attrtype == attr_accept::PEER_IDENTITY)
        {
            ids.push(attr.u32().ok_or(EINVAL)?, GFP_KERNEL)?;
        }
        assert_eq!(&ids[..], &[11, 12, 13][..]);
        Ok(())
    }

    #[test]
    fn reply_server_psk_sends_first_id_only() -> Result {
        let (_rec, mut a) = args();
        a.ta_num_peerids = 4;
        a.ta_my_peerids = [21, 22, 23, 24, 0];
        let treq = TlsRequest::new(&a, Hello::ServerPsk, Gfp::KERNEL)?;
        let msg = reply_of(&treq)?;
        assert_eq!(count_of(msg.attrs(), attr_accept::PEER_IDENTITY), 1);
        assert_eq!(u32_of(&msg, attr_accept::PEER_IDENTITY), Some(21));
        assert_eq!(
            u32_of(&msg, attr_accept::MESSAGE_TYPE),
            Some(msg_type::SERVERHELLO)
        );
        Ok(())
    }

    #[test]
    fn psk_peer_id_count_checked() -> Result {
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let before = ts.count();
        let mut a = args_for(Some(&ts), &rec);
        a.ta_num_peerids = 0;
        // SAFETY: `a` is valid.
        let ret = unsafe { tlshd::tls_client_hello_psk(&a, bindings::GFP_KERNEL) };
        assert_eq!(ret, EINVAL.to_errno());
        a.ta_num_peerids = 6;
        // SAFETY: `a` is valid.
        let ret = unsafe { tlshd::tls_client_hello_psk(&a, bindings::GFP_KERNEL) };
        assert_eq!(ret, EINVAL.to_errno());
        assert_eq!(ts.count(), before);
        a.ta_num_peerids = 5;
        assert!(TlsRequest::new(&a, Hello::ClientPsk, Gfp::KERNEL).is_ok());
        Ok(())
    }

    #[test]
    fn remote_peer_id_is_first() {
        assert_eq!(
            TlsRequest::remote_peerid(core::iter::empty()),
            tlshd::TLS_NO_KEY
        );
        assert_eq!(TlsRequest::remote_peerid([7u32, 8, 9].into_iter()), 7);
    }

    #[test]
    fn status_is_negative_errno() {
        // Known bug 12: statuses reach consumers as negative errnos only.
        assert_eq!(Status::from_agent(None).to_errno(), EIO.to_errno());
        assert_eq!(Status::from_agent(Some(0)).to_errno(), 0);
        assert_eq!(Status::from_agent(Some(13)).to_errno(), -13);
        assert_eq!(Status::from_agent(Some(4095)).to_errno(), -4095);
        assert_eq!(
            Status::from_agent(Some(u32::MAX)).to_errno(),
            EIO.to_errno()
        );
        assert_eq!(
            Status::from_error(ETIMEDOUT).to_errno(),
            ETIMEDOUT.to_errno()
        );
    }

    #[test]
    fn hello_without_agent_is_esrch_and_clean() -> Result {
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let before = ts.count();
        let saved = destruct_addr(&ts);
        let refs = module_refs();
        let a = args_for(Some(&ts), &rec);
        // SAFETY: `a` is valid.
        let ret = unsafe { tlshd::tls_client_hello_anon(&a, bindings::GFP_KERNEL) };
        assert_eq!(ret, ESRCH.to_errno());
        assert_eq!(ts.count(), before);
        assert!(destruct_addr(&ts) == saved);
        assert!(request::lookup(ts.sk()).is_none());
        assert_eq!(module_refs(), refs);
        assert_eq!(rec.calls(), 0);
        Ok(())
    }

    #[test]
    fn hello_in_atomic_context_allocates_atomically() -> Result {
        // Known bug 2, for the whole submit path: a consumer in atomic context passes
        // GFP_ATOMIC. Every allocation of the request (protocol data, peer name, peer ids,
        // request, queue and table nodes) must honour it; one that may sleep is reported by
        // the might-sleep check, which fails the run. Without an agent it ends in ESRCH.
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let before = ts.count();
        let saved = destruct_addr(&ts);
        let mut a = args_for(Some(&ts), &rec);
        a.ta_peername = c"atomic.example".as_char_ptr().cast();
        a.ta_num_peerids = 2;
        a.ta_my_peerids = [11, 12, 0, 0, 0];
        let outer = KBox::pin_init(
            crate::sync::new_spinlock_bh!((), "handshake_test_atomic_hello"),
            GFP_KERNEL,
        )?;
        let ret = {
            let _atomic = outer.lock();
            // SAFETY: `a` is valid and its socket is held by `ts`.
            unsafe { tlshd::tls_client_hello_psk(&a, bindings::GFP_ATOMIC) }
        };
        assert_eq!(ret, ESRCH.to_errno());
        assert_eq!(ts.count(), before);
        assert!(destruct_addr(&ts) == saved);
        assert!(request::lookup(ts.sk()).is_none());
        assert_eq!(rec.calls(), 0);
        Ok(())
    }

    #[test]
    fn consumer_gets_status_and_close_notify_once() -> Result {
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let a = args_for(Some(&ts), &rec);
        let treq = TlsRequest::new(&a, Hello::ClientAnon, Gfp::KERNEL)?.without_notify();
        request::submit(Some(ts.socket()), KBox::new(treq, GFP_KERNEL)?, Gfp::KERNEL)?;
        // No session before completion.
        assert!(!tlshd::close(ts.socket()));
        let (req, agent_file) = accept_next(&init_hn()).ok_or(EAGAIN)?;
        drop(agent_file);
        req.complete(Status::OK, None);
        assert_eq!(rec.calls(), 1);
        assert_eq!(rec.status(), 0);
        assert_eq!(rec.peerid.load(Ordering::SeqCst), tlshd::TLS_NO_KEY);
        assert!(tlshd::close(ts.socket()));
        assert!(!tlshd::close(ts.socket()));
        drop(req);
        ts.close();
        Ok(())
    }

    #[test]
    fn no_close_notify_after_failure() -> Result {
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let a = args_for(Some(&ts), &rec);
        let treq = TlsRequest::new(&a, Hello::ClientAnon, Gfp::KERNEL)?.without_notify();
        request::submit(Some(ts.socket()), KBox::new(treq, GFP_KERNEL)?, Gfp::KERNEL)?;
        let req = request::lookup(ts.sk()).ok_or(ENOENT)?;
        req.complete(Status::from_agent(Some(13)), None);
        assert_eq!(rec.status(), -13);
        assert!(!tlshd::close(ts.socket()));
        drop(req);
        ts.close();
        Ok(())
    }

    #[test]
    fn cancel_without_request_is_false() -> Result {
        let ts = TestSocket::new()?;
        // SAFETY: A live socket and a null pointer are both accepted.
        unsafe {
            assert!(!tlshd::tls_handshake_cancel(ts.sk_raw()));
            assert!(!tlshd::tls_handshake_cancel(core::ptr::null_mut()));
            tlshd::tls_handshake_close(core::ptr::null_mut());
        }
        Ok(())
    }

    #[test]
    fn record_type_and_alert_parsing() {
        #[repr(C)]
        struct Cmsg {
            hdr: bindings::cmsghdr,
            data: [u8; 8],
        }
        let mut c = Cmsg {
            hdr: bindings::cmsghdr {
                cmsg_len: core::mem::size_of::<bindings::cmsghdr>() + 1,
                cmsg_level: crate::alert::SOL_TLS,
                cmsg_type: crate::alert::TLS_GET_RECORD_TYPE,
            },
            data: [23, 0, 0, 0, 0, 0, 0, 0],
        };
        // SAFETY: `c` is a valid control message with data.
        let record_type = unsafe { crate::alert::tls_get_record_type(core::ptr::null(), &c.hdr) };
        assert_eq!(record_type, 23);
        c.hdr.cmsg_level = 1;
        // SAFETY: As above.
        let record_type = unsafe { crate::alert::tls_get_record_type(core::ptr::null(), &c.hdr) };
        assert_eq!(record_type, 0);
    }
}

#[kunit_tests(handshake_lifetime)]
mod lifetime {
    use super::*;

    #[test]
    fn cancel_twice() -> Result {
        // Known bug 8: the second cancel must not drop the file again.
        let (ts, _rec, before) = submitted()?;
        assert!(request::cancel(ts.sk(), Net::init_net()));
        assert!(!request::cancel(ts.sk(), Net::init_net()));
        assert_eq!(ts.count(), before);
        ts.close();
        Ok(())
    }

    #[test]
    fn done_after_cancel_is_ignored() -> Result {
        let (ts, rec, before) = submitted()?;
        let (req, agent_file) = accept_next(&init_hn()).ok_or(EAGAIN)?;
        drop(agent_file);
        assert!(request::cancel(ts.sk(), Net::init_net()));
        req.complete(Status::OK, None);
        req.complete(Status::OK, None);
        assert_eq!(rec.calls(), 0);
        assert_eq!(ts.count(), before);
        drop(req);
        ts.close();
        Ok(())
    }

    #[test]
    fn done_twice_completes_once() -> Result {
        let (ts, rec, before) = submitted()?;
        let req = request::lookup(ts.sk()).ok_or(ENOENT)?;
        // DONE on a request that is still queued also takes it off the queue.
        req.complete(Status::OK, None);
        req.complete(Status::from_error(EIO), None);
        assert_eq!(rec.calls(), 1);
        assert_eq!(rec.status(), 0);
        assert_eq!(ts.count(), before);
        assert!(accept_next(&init_hn()).is_none());
        drop(req);
        ts.close();
        Ok(())
    }

    #[test]
    fn accept_cancel_close() -> Result {
        // Known bugs 4 and 14: accept, cancel, close; the agent's own reference keeps the file.
        let (ts, rec, before) = submitted()?;
        let (req, agent_file) = accept_next(&init_hn()).ok_or(EAGAIN)?;
        assert!(request::cancel(ts.sk(), Net::init_net()));
        assert_eq!(ts.count(), before + 1);
        assert_eq!(file_count(&agent_file), before + 1);
        drop(agent_file);
        assert_eq!(ts.count(), before);
        drop(req);
        let sk = ts.sk();
        ts.close();
        assert!(rec.destroyed.load(Ordering::SeqCst));
        assert!(request::lookup(sk).is_none());
        Ok(())
    }

    #[test]
    fn accept_with_nothing_pending() {
        // Known bug 10.
        let hn = HandshakeNet::new(3).expect("memory");
        assert!(accept_next(&hn).is_none());
        let r = netlink::accept_request(Net::init_net(), &hn, HandlerClass::Tlshd, |_, _| Ok(()));
        assert_eq!(r, Err(EAGAIN));
    }

    #[test]
    fn accept_is_fifo() -> Result {
        let a = TestSocket::new()?;
        let b = TestSocket::new()?;
        let rec = Recorder::new();
        let hn = HandshakeNet::new(3)?;
        request::submit_to(
            &hn,
            Net::init_net(),
            a.file(),
            a.sk(),
            test_proto(&rec),
            Gfp::KERNEL,
        )?;
        request::submit_to(
            &hn,
            Net::init_net(),
            b.file(),
            b.sk(),
            test_proto(&rec),
            Gfp::KERNEL,
        )?;
        assert_eq!(hn.queue().lock().pending(), 2);
        let (first, f1) = accept_next(&hn).ok_or(EAGAIN)?;
        let (second, f2) = accept_next(&hn).ok_or(EAGAIN)?;
        assert!(first.sk() == a.sk());
        assert!(second.sk() == b.sk());
        assert_eq!(hn.queue().lock().pending(), 0);
        drop((f1, f2));
        first.complete(Status::OK, None);
        second.complete(Status::OK, None);
        assert_eq!(rec.calls(), 2);
        drop((first, second));
        a.close();
        b.close();
        Ok(())
    }

    #[test]
    fn accept_failure_completes_with_eio() -> Result {
        // Known bugs 1, 6 and 7: the reply fails after the fd was reserved.
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let hn = HandshakeNet::new(3)?;
        let before = ts.count();
        request::submit_to(
            &hn,
            Net::init_net(),
            ts.file(),
            ts.sk(),
            test_proto(&rec),
            Gfp::KERNEL,
        )?;
        let r = netlink::accept_request(Net::init_net(), &hn, HandlerClass::Tlshd, |_, _| {
            Err(EMSGSIZE)
        });
        assert_eq!(r, Err(EMSGSIZE));
        assert_eq!(rec.calls(), 1);
        assert_eq!(rec.status(), EIO.to_errno());
        assert_eq!(ts.count(), before);
        ts.close();
        Ok(())
    }

    #[test]
    fn namespace_drain_times_out_once() -> Result {
        // Known bug 16: drain completes every pending request once, even against cancel.
        let a = TestSocket::new()?;
        let b = TestSocket::new()?;
        let c = TestSocket::new()?;
        let ra = Recorder::new();
        let rb = Recorder::new();
        let rc = Recorder::new();
        let hn = HandshakeNet::new(5)?;
        let net = Net::init_net();
        let before = a.count();
        request::submit_to(&hn, net, a.file(), a.sk(), test_proto(&ra), Gfp::KERNEL)?;
        request::submit_to(&hn, net, b.file(), b.sk(), test_proto(&rb), Gfp::KERNEL)?;
        let (accepted, f) = accept_next(&hn).ok_or(EAGAIN)?;
        drop(f);
        request::submit_to(&hn, net, c.file(), c.sk(), test_proto(&rc), Gfp::KERNEL)?;
        assert!(request::cancel(c.sk(), net));
        request::drain(&hn);
        request::drain(&hn);
        assert_eq!(ra.calls(), 0);
        assert_eq!(rb.calls(), 1);
        assert_eq!(rb.status(), ETIMEDOUT.to_errno());
        assert_eq!(rc.calls(), 0);
        assert!(!request::cancel(b.sk(), net));
        assert!(hn.queue().lock().draining());
        assert_eq!(hn.queue().lock().pending(), 0);
        // New requests are refused while draining.
        let d = TestSocket::new()?;
        let rd = Recorder::new();
        let r = request::submit_to(&hn, net, d.file(), d.sk(), test_proto(&rd), Gfp::KERNEL);
        assert_eq!(r, Err(EOPNOTSUPP));
        // The accepted one finishes normally.
        accepted.complete(Status::OK, None);
        assert_eq!(ra.calls(), 1);
        assert_eq!(a.count(), before);
        assert_eq!(b.count(), before);
        drop(accepted);
        a.close();
        b.close();
        c.close();
        d.close();
        Ok(())
    }

    #[test]
    fn namespace_exit_drains_once_against_cancel() -> Result {
        // Known bug 16 through the namespace core: unregistering runs `pre_exit`, a grace period
        // and `exit` on a real namespace, as its destruction does. Pending requests time out
        // once; a consumer cancelling a sibling from its callback during the drain neither
        // corrupts the queue nor gets a second completion; an accepted request is left alone.
        let net = Net::init_net();
        let a = TestSocket::new()?;
        let b = TestSocket::new()?;
        let c = TestSocket::new()?;
        let d = TestSocket::new()?;
        let (ra, rb, rc, rd) = (
            Recorder::new(),
            Recorder::new(),
            Recorder::new(),
            Recorder::new(),
        );
        let before = b.count();
        let exits = DRAIN_EXITS.load(Ordering::SeqCst);
        let reg = DRAIN_PERNET.register()?;
        let hn = DRAIN_PERNET.get(net).ok_or(ENOENT)?.hn.clone();
        let g = Gfp::KERNEL;
        request::submit_to(&hn, net, a.file(), a.sk(), test_proto(&ra), g)?;
        request::submit_to(&hn, net, b.file(), b.sk(), cancelling_proto(&rb, c.sk()), g)?;
        request::submit_to(&hn, net, c.file(), c.sk(), test_proto(&rc), g)?;
        request::submit_to(&hn, net, d.file(), d.sk(), cancelling_proto(&rd, b.sk()), g)?;
        let (accepted, agent_file) = accept_next(&hn).ok_or(EAGAIN)?;
        assert!(accepted.sk() == a.sk());
        drop(agent_file);
        assert_eq!(hn.queue().lock().pending(), 3);

        drop(reg);

        // (Had `exit` found the slot still live, `pre_exit` would not have run: the trampoline
        // warns, which fails the run.)
        assert!(DRAIN_EXITS.load(Ordering::SeqCst) > exits);
        assert!(DRAIN_PERNET.get(net).is_none());
        // b was drained first; its consumer cancelled c, which was still queued.
        assert_eq!(rb.calls(), 1);
        assert_eq!(rb.status(), ETIMEDOUT.to_errno());
        assert_eq!(rb.cancelled.load(Ordering::SeqCst), 2);
        assert_eq!(rc.calls(), 0);
        // d was drained next; its cancel of b came too late.
        assert_eq!(rd.calls(), 1);
        assert_eq!(rd.status(), ETIMEDOUT.to_errno());
        assert_eq!(rd.cancelled.load(Ordering::SeqCst), 1);
        assert!(!request::cancel(c.sk(), net));
        assert!(!request::cancel(d.sk(), net));
        assert!(hn.queue().lock().draining());
        assert_eq!(hn.queue().lock().pending(), 0);
        assert_eq!(b.count(), before);
        assert_eq!(c.count(), before);
        assert_eq!(d.count(), before);
        // The accepted request was not drained; it still completes once.
        assert_eq!(ra.calls(), 0);
        accepted.complete(Status::OK, None);
        accepted.complete(Status::from_error(EIO), None);
        assert_eq!(ra.calls(), 1);
        assert_eq!(ra.status(), 0);
        assert_eq!(a.count(), before);
        drop(accepted);
        a.close();
        b.close();
        c.close();
        d.close();
        assert!(rb.destroyed.load(Ordering::SeqCst));
        Ok(())
    }

    #[test]
    fn consumer_release_while_pending_keeps_socket() -> Result {
        // Known bug 13: the consumer drops its last reference on the socket's file while the
        // request is pending. The request's pin keeps the socket alive (its destructor has not
        // run) until the request is completed, and releasing the pin then destroys it.
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let sk = ts.sk();
        submit(&ts, &rec)?;
        ts.close();
        let req = request::lookup(sk).ok_or(ENOENT)?;
        assert!(!req.is_completed());
        assert!(!rec.destroyed.load(Ordering::SeqCst));
        req.complete(Status::from_error(ETIMEDOUT), None);
        drop(req);
        assert_eq!(rec.calls(), 1);
        // The pin was the last reference; a kernel thread's final fput is deferred.
        // SAFETY: Process context.
        unsafe {
            bindings::flush_delayed_fput();
            bindings::rcu_barrier();
        }
        assert!(request::lookup(sk).is_none());
        assert!(rec.destroyed.load(Ordering::SeqCst));
        Ok(())
    }

    #[test]
    fn resubmit_after_completion_is_busy() -> Result {
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        submit(&ts, &rec)?;
        let req = request::lookup(ts.sk()).ok_or(ENOENT)?;
        req.complete(Status::OK, None);
        assert_eq!(submit(&ts, &rec), Err(EBUSY));
        drop(req);
        ts.close();
        Ok(())
    }

    #[test]
    fn module_reference_follows_socket() -> Result {
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let refs = module_refs();
        submit(&ts, &rec)?;
        assert_eq!(module_refs(), refs + 1);
        assert!(request::cancel(ts.sk(), Net::init_net()));
        // The hook stays until the socket goes.
        assert_eq!(module_refs(), refs + 1);
        ts.close();
        assert_eq!(module_refs(), refs);
        Ok(())
    }

    #[test]
    fn destructor_is_chained() -> Result {
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let saved = destruct_addr(&ts);
        submit(&ts, &rec)?;
        assert!(destruct_addr(&ts) != saved);
        assert!(request::cancel(ts.sk(), Net::init_net()));
        ts.close();
        assert!(rec.destroyed.load(Ordering::SeqCst));
        Ok(())
    }

    #[test]
    fn cancel_with_bottom_halves_disabled() -> Result {
        // Known bug 11: cancel takes only BH-safe locks, so it may run in softirq context.
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        submit(&ts, &rec)?;
        let outer = KBox::pin_init(
            crate::sync::new_spinlock_bh!((), "handshake_test_bh"),
            GFP_KERNEL,
        )?;
        let won = {
            let _bh_off = outer.lock();
            request::cancel(ts.sk(), Net::init_net())
        };
        assert!(won);
        ts.close();
        Ok(())
    }

    #[test]
    fn notify_uses_callers_gfp() -> Result {
        // Known bug 2: a notification built in atomic context with GFP_ATOMIC.
        let outer = KBox::pin_init(
            crate::sync::new_spinlock_bh!((), "handshake_test_gfp"),
            GFP_KERNEL,
        )?;
        let _atomic = outer.lock();
        let mut msg = Message::new_notify(&FAMILY, cmd::READY, Gfp::ATOMIC)?;
        // Under CONFIG_DEBUG_ATOMIC_SLEEP a sleeping allocation here splats, failing the run.
        msg.put_u32(attr_accept::HANDLER_CLASS, 1)?;
        Ok(())
    }

    #[test]
    fn failed_message_is_freed() -> Result {
        // Known bug 7: a message that does not fit is dropped, not leaked (kmemleak checks).
        let mut msg = Message::new_notify(&FAMILY, cmd::READY, Gfp::KERNEL)?;
        let mut result = Ok(());
        for _ in 0..10000 {
            result = msg.put_u32(attr_accept::HANDLER_CLASS, 1);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(EMSGSIZE));
        drop(msg);
        Ok(())
    }
}

#[kunit_tests(handshake_genl)]
mod genl_tables_test {
    use super::*;

    #[test]
    fn ops_are_admin_do_with_policies() {
        let ops = netlink::ops();
        assert_eq!(ops[0].cmd(), cmd::ACCEPT);
        assert_eq!(ops[1].cmd(), cmd::DONE);
        let want = (bindings::GENL_ADMIN_PERM | bindings::GENL_CMD_CAP_DO) as u8;
        // Known bug 17: DONE needs CAP_NET_ADMIN like ACCEPT.
        assert_eq!(ops[0].flags(), want);
        assert_eq!(ops[1].flags(), want);
        assert_eq!(ops[0].maxattr(), u32::from(attr_accept::HANDLER_CLASS));
        assert_eq!(ops[1].maxattr(), u32::from(tables::attr_done::REMOTE_AUTH));
    }

    #[test]
    fn policies_match_spec() {
        let acc = &tables::ACCEPT_POLICY;
        assert_eq!(u32::from(acc[2].nla_type()), bindings::NLA_U32);
        assert_eq!(acc[2].max(), Some(2));
        assert_eq!(u32::from(acc[1].nla_type()), bindings::NLA_UNSPEC);
        let done = &tables::DONE_POLICY;
        assert_eq!(u32::from(done[1].nla_type()), bindings::NLA_U32);
        assert_eq!(done[1].max(), Some(4095));
        assert_eq!(u32::from(done[2].nla_type()), bindings::NLA_S32);
        assert_eq!(done[2].max(), None);
        assert_eq!(u32::from(done[3].nla_type()), bindings::NLA_U32);
        assert_eq!(
            u32::from(done[1].validation()),
            bindings::nla_policy_validation_NLA_VALIDATE_MAX
        );
        assert_eq!(
            u32::from(crate::genl::Policy::string().nla_type()),
            bindings::NLA_NUL_STRING
        );
    }

    #[test]
    fn family_flags_and_groups() {
        assert_eq!(FAMILY.netnsok_parallel(), (true, true));
        assert_eq!(tables::mcgrp::NONE, 0);
        assert_eq!(tables::mcgrp::TLSHD, tables::handler_class::TLSHD);
        // SAFETY: The family is registered; reading its fixed fields.
        let fam = unsafe { &*FAMILY.as_raw() };
        assert_eq!(fam.version, 1);
        assert_eq!(fam.n_mcgrps, 2);
        assert_eq!(fam.n_split_ops, 2);
        // SAFETY: The family's groups point at the static table.
        let groups = unsafe { core::slice::from_raw_parts(fam.mcgrps, 2) };
        for (group, want) in groups.iter().zip(tables::MCGRP_NAMES) {
            // SAFETY: Group names are NUL-terminated.
            let name = unsafe { CStr::from_char_ptr(group.name.as_ptr()) };
            assert_eq!(name, want);
        }
        assert_eq!(tables::MCGRP_NAMES[0], c"none");
        assert_eq!(tables::MCGRP_NAMES[1], c"tlshd");
    }

    #[test]
    fn pending_limit_formula() {
        let max = netlink::default_pending_max();
        assert!((3..=50).contains(&max));
        let mut si = bindings::sysinfo::default();
        // SAFETY: `si` is a valid out parameter.
        unsafe { bindings::si_meminfo(&mut si) };
        let expect = (si.totalram as u64 / (25 * u64::from(si.mem_unit))).clamp(3, 50) as usize;
        assert_eq!(max, expect);
        let hn = init_hn();
        let q = hn.queue().lock();
        assert!(q.max() >= 1);
        assert_eq!(q.pending(), 0);
    }
}
