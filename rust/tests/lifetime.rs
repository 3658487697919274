// SPDX-License-Identifier: GPL-2.0

//! `handshake_lifetime`: races and lifetime rules, including the known C bugs a unit test can
//! reproduce.

use super::*;
use crate::{
    abstractions::genl::GenlMsg,
    genl_tables::{
        attr_accept,
        cmd, //
    },
    netlink, //
};

#[kunit_tests(handshake_lifetime)]
mod cases {
    use super::*;

    #[test]
    fn cancel_twice() -> Result {
        let hn = test_hn(5);
        // Known bug 8: the second cancel must not drop the file again.
        let (ts, _rec, before) = submitted(&hn)?;
        assert!(request::cancel(ts.sk()));
        assert!(!request::cancel(ts.sk()));
        assert_eq!(ts.count(), before);
        ts.close();
        Ok(())
    }

    #[test]
    fn done_after_cancel_is_ignored() -> Result {
        let hn = test_hn(5);
        let (ts, rec, before) = submitted(&hn)?;
        let (req, agent_file) = accept_next(&hn).ok_or(EAGAIN)?;
        drop(agent_file);
        assert!(request::cancel(ts.sk()));
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
        let hn = test_hn(5);
        let (ts, rec, before) = submitted(&hn)?;
        let req = request::lookup(ts.key()).ok_or(ENOENT)?;
        // DONE on a request that is still queued also takes it off the queue.
        req.complete(Status::OK, None);
        req.complete(Status::from_error(EIO), None);
        assert_eq!(rec.calls(), 1);
        assert_eq!(rec.status(), 0);
        assert_eq!(ts.count(), before);
        assert!(accept_next(&hn).is_none());
        drop(req);
        ts.close();
        Ok(())
    }

    #[test]
    fn accept_cancel_close() -> Result {
        let hn = test_hn(5);
        // Known bugs 4 and 14: accept, cancel, close; the agent's own reference keeps the file.
        let (ts, rec, before) = submitted(&hn)?;
        let (req, agent_file) = accept_next(&hn).ok_or(EAGAIN)?;
        assert!(request::cancel(ts.sk()));
        assert_eq!(ts.count(), before + 1);
        assert_eq!(file_count(&agent_file), before + 1);
        drop(agent_file);
        assert_eq!(ts.count(), before);
        drop(req);
        let sk = ts.key();
        ts.close();
        assert!(rec.destroyed());
        assert!(request::lookup(sk).is_none());
        Ok(())
    }

    #[test]
    fn accept_with_nothing_pending() {
        // Known bug 10.
        let hn = test_hn(3);
        assert!(accept_next(&hn).is_none());
        let r = netlink::accept_request(Net::init_net(), &hn, HandlerClass::Tlshd, |_, _| Ok(()));
        assert_eq!(r, Err(EAGAIN));
    }

    #[test]
    fn accept_is_fifo() -> Result {
        let a = TestSocket::new()?;
        let b = TestSocket::new()?;
        let rec = Recorder::new();
        let hn = test_hn(3);
        request::submit_to(&hn, a.socket(), test_proto(&rec), Gfp::KERNEL, no_announce)?;
        request::submit_to(&hn, b.socket(), test_proto(&rec), Gfp::KERNEL, no_announce)?;
        assert_eq!(hn.queue().lock().pending(), 2);
        let (first, f1) = accept_next(&hn).ok_or(EAGAIN)?;
        let (second, f2) = accept_next(&hn).ok_or(EAGAIN)?;
        assert!(first.sk() == a.key());
        assert!(second.sk() == b.key());
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
        let hn = test_hn(3);
        let before = ts.count();
        request::submit_to(&hn, ts.socket(), test_proto(&rec), Gfp::KERNEL, no_announce)?;
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
        let hn = test_hn(5);
        let before = a.count();
        request::submit_to(&hn, a.socket(), test_proto(&ra), Gfp::KERNEL, no_announce)?;
        request::submit_to(&hn, b.socket(), test_proto(&rb), Gfp::KERNEL, no_announce)?;
        let (accepted, f) = accept_next(&hn).ok_or(EAGAIN)?;
        drop(f);
        request::submit_to(&hn, c.socket(), test_proto(&rc), Gfp::KERNEL, no_announce)?;
        assert!(request::cancel(c.sk()));
        hn.drain();
        hn.drain();
        assert_eq!(ra.calls(), 0);
        assert_eq!(rb.calls(), 1);
        assert_eq!(rb.status(), ETIMEDOUT.to_errno());
        assert_eq!(rc.calls(), 0);
        assert!(!request::cancel(b.sk()));
        assert!(hn.queue().lock().draining());
        assert_eq!(hn.queue().lock().pending(), 0);
        // New requests are refused while draining.
        let d = TestSocket::new()?;
        let rd = Recorder::new();
        let r = request::submit_to(&hn, d.socket(), test_proto(&rd), Gfp::KERNEL, no_announce);
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
        let hn = DRAIN_PERNET.get(Net::init_net()).ok_or(ENOENT)?.hn.clone();
        let g = Gfp::KERNEL;
        request::submit_to(&hn, a.socket(), test_proto(&ra), g, no_announce)?;
        request::submit_to(&hn, b.socket(), cancelling_proto(&rb, &c), g, no_announce)?;
        request::submit_to(&hn, c.socket(), test_proto(&rc), g, no_announce)?;
        request::submit_to(&hn, d.socket(), cancelling_proto(&rd, &b), g, no_announce)?;
        let (accepted, agent_file) = accept_next(&hn).ok_or(EAGAIN)?;
        assert!(accepted.sk() == a.key());
        drop(agent_file);
        assert_eq!(hn.queue().lock().pending(), 3);

        drop(reg);

        // (Had `exit` found the slot still live, `pre_exit` would not have run: the trampoline
        // warns, which fails the run.)
        assert!(DRAIN_EXITS.load(Ordering::SeqCst) > exits);
        assert!(DRAIN_PERNET.get(Net::init_net()).is_none());
        // b was drained first; its consumer cancelled c, which was still queued.
        assert_eq!(rb.calls(), 1);
        assert_eq!(rb.status(), ETIMEDOUT.to_errno());
        assert_eq!(rb.cancelled.load(Ordering::SeqCst), 2);
        assert_eq!(rc.calls(), 0);
        // d was drained next; its cancel of b came too late.
        assert_eq!(rd.calls(), 1);
        assert_eq!(rd.status(), ETIMEDOUT.to_errno());
        assert_eq!(rd.cancelled.load(Ordering::SeqCst), 1);
        assert!(!request::cancel(c.sk()));
        assert!(!request::cancel(d.sk()));
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
        assert!(rb.destroyed());
        Ok(())
    }

    #[test]
    fn consumer_release_while_pending_keeps_socket() -> Result {
        let hn = test_hn(5);
        // Known bug 13: the consumer drops its last reference on the socket's file while the
        // request is pending. The request's pin keeps the socket alive (its destructor has not
        // run) until the request is completed, and releasing the pin then destroys it.
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let sk = ts.key();
        submit(&hn, &ts, &rec)?;
        ts.close();
        let req = request::lookup(sk).ok_or(ENOENT)?;
        assert!(!req.is_completed());
        assert!(!rec.destroyed());
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
        assert!(rec.destroyed());
        Ok(())
    }

    #[test]
    fn resubmit_after_completion_is_busy() -> Result {
        let hn = test_hn(5);
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        submit(&hn, &ts, &rec)?;
        let req = request::lookup(ts.key()).ok_or(ENOENT)?;
        req.complete(Status::OK, None);
        assert_eq!(submit(&hn, &ts, &rec), Err(EBUSY));
        drop(req);
        ts.close();
        Ok(())
    }

    #[test]
    fn module_reference_follows_socket() -> Result {
        let hn = test_hn(5);
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let refs = module_refs();
        submit(&hn, &ts, &rec)?;
        assert_eq!(module_refs(), refs + 1);
        assert!(request::cancel(ts.sk()));
        // The hook stays until the socket goes.
        assert_eq!(module_refs(), refs + 1);
        ts.close();
        assert_eq!(module_refs(), refs);
        Ok(())
    }

    #[test]
    fn destructor_is_chained() -> Result {
        let hn = test_hn(5);
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let saved = ts.destructor();
        submit(&hn, &ts, &rec)?;
        assert!(ts.destructor() != saved);
        assert!(request::cancel(ts.sk()));
        ts.close();
        assert!(rec.destroyed());
        Ok(())
    }

    #[test]
    fn cancel_with_bottom_halves_disabled() -> Result {
        let hn = test_hn(5);
        // Known bug 11: cancel takes only BH-safe locks, so it may run in softirq context.
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        submit(&hn, &ts, &rec)?;
        let outer = KBox::pin_init(
            crate::abstractions::sync::new_spinlock_bh!((), "handshake_test_bh"),
            GFP_KERNEL,
        )?;
        let won = {
            let _bh_off = outer.lock();
            request::cancel(ts.sk())
        };
        assert!(won);
        ts.close();
        Ok(())
    }

    #[test]
    fn notify_uses_callers_gfp() -> Result {
        // Known bug 2: a notification built in atomic context with GFP_ATOMIC.
        let outer = KBox::pin_init(
            crate::abstractions::sync::new_spinlock_bh!((), "handshake_test_gfp"),
            GFP_KERNEL,
        )?;
        let _atomic = outer.lock();
        let mut msg = GenlMsg::new_notify(&netlink::FAMILY, cmd::READY, Gfp::ATOMIC)?;
        // Under CONFIG_DEBUG_ATOMIC_SLEEP a sleeping allocation here splats, failing the run.
        msg.put_u32(attr_accept::HANDLER_CLASS, 1)?;
        Ok(())
    }

    #[test]
    fn failed_message_is_freed() -> Result {
        // Known bug 7: a message that does not fit is dropped, not leaked (kmemleak checks).
        let mut msg = GenlMsg::new_notify(&netlink::FAMILY, cmd::READY, Gfp::KERNEL)?;
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
