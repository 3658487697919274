// SPDX-License-Identifier: GPL-2.0

//! `handshake_api`: the cases of the C service's `net/handshake/handshake-test.c`.

use super::*;
use crate::{
    capi,
    genl_tables as tables, //
};

#[kunit_tests(handshake_api)]
mod cases {
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
        let ret = unsafe { capi::tls_client_hello_anon(core::ptr::null(), bindings::GFP_KERNEL) };
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
        let ret = unsafe { capi::tls_server_hello_x509(&args, bindings::GFP_KERNEL) };
        assert_eq!(ret, EINVAL.to_errno());
        assert_eq!(ts.count(), before);
        assert!(request::lookup(ts.key()).is_none());
        Ok(())
    }

    #[test]
    fn req_alloc_no_done_callback() -> Result {
        // A callback argument but no callback.
        let ts = TestSocket::new()?;
        let before = ts.count();
        let rec = Recorder::new();
        let mut args = args_for(Some(&ts), &rec);
        args.ta_done = None;
        // SAFETY: `args` is valid.
        let ret = unsafe { capi::tls_client_hello_anon(&args, bindings::GFP_KERNEL) };
        assert_eq!(ret, EINVAL.to_errno());
        assert_eq!(ts.count(), before);
        assert_eq!(rec.calls(), 0);
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
        let saved = ts.destructor();
        let mut args = args_for(Some(&ts), &rec);
        args.ta_done = None;
        // SAFETY: `args` is valid.
        let ret = unsafe { capi::tls_client_hello_anon(&args, bindings::GFP_KERNEL) };
        assert_eq!(ret, EINVAL.to_errno());
        assert_eq!(ts.count(), before);
        assert!(ts.destructor() == saved);
        Ok(())
    }

    #[test]
    fn req_submit_null_sock() {
        let rec = Recorder::new();
        let args = args_for(None, &rec);
        // SAFETY: `args` is valid.
        let ret = unsafe { capi::tls_client_hello_anon(&args, bindings::GFP_KERNEL) };
        assert_eq!(ret, EINVAL.to_errno());
        assert_eq!(rec.calls(), 0);
    }

    #[test]
    fn req_submit_null_file() -> Result {
        let sock = raw_tcp_socket()?;
        let rec = Recorder::new();
        let hn = test_hn(5);
        // SAFETY: `sock` is alive until released below and has no file.
        let result = request::submit_to(
            &hn,
            unsafe { Socket::from_raw(sock) },
            test_proto(&rec),
            Gfp::KERNEL,
            no_announce,
        );
        assert_eq!(result, Err(EINVAL));
        // SAFETY: The socket has no file; release it directly.
        unsafe { bindings::sock_release(sock) };
        Ok(())
    }

    #[test]
    fn req_lookup_works() -> Result {
        let hn = test_hn(5);
        let (ts, _rec, before) = submitted(&hn)?;
        assert_eq!(ts.count(), before + 1);
        let found = request::lookup(ts.key());
        assert!(found.is_some());
        assert!(found.map(|r| r.sk()) == Some(ts.key()));
        assert!(request::cancel(ts.sk()));
        assert_eq!(ts.count(), before);
        ts.close();
        Ok(())
    }

    #[test]
    fn req_submit_max_pending() -> Result {
        let hn = test_hn(2);
        let (a, _ra, _) = submitted(&hn)?;
        let (b, _rb, _) = submitted(&hn)?;
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let before = ts.count();
        let saved = ts.destructor();
        let result = submit(&hn, &ts, &rec);
        assert_eq!(result, Err(EAGAIN));
        assert_eq!(ts.count(), before);
        // Known bug 9: the destructor must not stay hooked after a failed submit.
        assert!(ts.destructor() == saved);
        assert!(request::lookup(ts.key()).is_none());
        assert!(request::cancel(a.sk()));
        assert!(request::cancel(b.sk()));
        a.close();
        b.close();
        Ok(())
    }

    #[test]
    fn req_submit_multiple() -> Result {
        let hn = test_hn(5);
        let (ts, rec, before) = submitted(&hn)?;
        assert_eq!(ts.count(), before + 1);
        assert_eq!(submit(&hn, &ts, &rec), Err(EBUSY));
        assert_eq!(ts.count(), before + 1);
        assert!(request::cancel(ts.sk()));
        assert_eq!(ts.count(), before);
        ts.close();
        Ok(())
    }

    #[test]
    fn req_cancel_before_accept() -> Result {
        let hn = test_hn(5);
        let (ts, rec, before) = submitted(&hn)?;
        assert_eq!(ts.count(), before + 1);
        assert!(request::cancel(ts.sk()));
        assert_eq!(ts.count(), before);
        assert_eq!(rec.calls(), 0);
        ts.close();
        Ok(())
    }

    #[test]
    fn req_cancel_after_accept() -> Result {
        let hn = test_hn(5);
        let (ts, rec, before) = submitted(&hn)?;
        let (req, agent_file) = accept_next(&hn).ok_or(EAGAIN)?;
        assert!(req.sk() == ts.key());
        // The agent's descriptor consumes its reference.
        drop(agent_file);
        assert!(request::cancel(ts.sk()));
        assert_eq!(ts.count(), before);
        assert_eq!(rec.calls(), 0);
        drop(req);
        ts.close();
        Ok(())
    }

    #[test]
    fn req_cancel_after_done() -> Result {
        let hn = test_hn(5);
        let (ts, rec, before) = submitted(&hn)?;
        let (req, agent_file) = accept_next(&hn).ok_or(EAGAIN)?;
        drop(agent_file);
        req.complete(Status::from_error(ETIMEDOUT), None);
        assert_eq!(ts.count(), before);
        assert!(!request::cancel(ts.sk()));
        assert_eq!(ts.count(), before);
        assert_eq!(rec.calls(), 1);
        assert_eq!(rec.status(), ETIMEDOUT.to_errno());
        drop(req);
        ts.close();
        Ok(())
    }

    #[test]
    fn req_destroy_works() -> Result {
        let hn = test_hn(5);
        let (ts, rec, before) = submitted(&hn)?;
        assert!(request::cancel(ts.sk()));
        assert_eq!(ts.count(), before);
        let key = ts.key();
        ts.close();
        assert!(rec.destroyed());
        assert!(request::lookup(key).is_none());
        Ok(())
    }
}
