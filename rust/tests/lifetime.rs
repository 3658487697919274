// SPDX-License-Identifier: GPL-2.0

//! `handshake_lifetime`: races and lifetime rules, including the known C bugs a unit test can
//! reproduce.

use super::*;
use crate::{
    abstractions::{
        genl::{
            GenlMsg,
            PutAttrs, //
        },
        socket::file_count, //
    },
    genl_tables::{
        attr_accept,
        cmd, //
    },
    netlink, //
};
use kernel::{
    cpu::CpuId,
    sync::atomic::Relaxed, //
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
    fn requests_sharing_a_bucket_stay_apart() -> Result {
        // Four live sockets of one destructor shard: their requests share a bucket of the
        // request table. Each lookup must find its own request; a submit withdrawn for want of
        // an agent, and cancels and destructions in the middle, at the tail and at the head of
        // the bucket, must take out only their own.
        let mut all = KVec::new();
        let shard = loop {
            let ts = TestSocket::new()?;
            let shard = ts.key().shard();
            all.push(ts, GFP_KERNEL)?;
            if all.iter().filter(|t| t.key().shard() == shard).count() == 4 {
                break shard;
            }
            // Beyond three times the shards, some shard has four (pigeonhole).
            assert!(all.len() <= 3 * DESTRUCT_SHARDS);
        };
        let mut slots = [None, None, None];
        let mut withdrawn = None;
        for ts in all {
            if ts.key().shard() != shard {
                continue;
            }
            match slots.iter_mut().find(|s| s.is_none()) {
                Some(slot) => *slot = Some(ts),
                None => withdrawn = Some(ts),
            }
        }
        let withdrawn = withdrawn.ok_or(EINVAL)?;
        let hn = test_hn(5);
        let mut recs = KVec::new();
        for ts in slots.iter().flatten() {
            let rec = Recorder::new();
            submit(&hn, ts, &rec)?;
            recs.push(rec, GFP_KERNEL)?;
        }
        let found = |ts: &TestSocket| request::lookup(ts.key()).is_some_and(|r| r.sk() == ts.key());
        assert!(slots.iter().flatten().all(found));

        // Enters the bucket at its tail, then is taken back out of it.
        let rec = Recorder::new();
        let destructor = withdrawn.destructor();
        let ret = request::submit_to(
            &hn,
            withdrawn.socket(),
            test_proto(&rec),
            Gfp::KERNEL,
            |_, _, _| Err(ESRCH),
        );
        assert_eq!(ret, Err(ESRCH));
        assert!(request::lookup(withdrawn.key()).is_none());
        assert!(withdrawn.destructor() == destructor);
        assert!(slots.iter().flatten().all(found));
        withdrawn.close();
        assert!(rec.destroyed());

        // Submitted in order, so the second is in the middle of the bucket and the third at
        // its tail.
        for i in [1, 2, 0] {
            let ts = slots[i].take().ok_or(EINVAL)?;
            assert!(request::cancel(ts.sk()));
            let key = ts.key();
            ts.close();
            assert!(recs[i].destroyed());
            assert!(request::lookup(key).is_none());
            assert!(slots.iter().flatten().all(found));
        }
        assert!(recs.iter().all(|r| r.calls() == 0) && rec.calls() == 0);
        Ok(())
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
        // The counters say the same: three queued, one cancelled, one drained. (Acceptance is
        // counted by ACCEPT's reply, which the suite's agent does not send.)
        let counters = hn.counters();
        assert_eq!(counters.submitted.load(Relaxed), 3);
        assert_eq!(counters.accepted.load(Relaxed), 0);
        assert_eq!(counters.cancelled.load(Relaxed), 1);
        assert_eq!(counters.drained.load(Relaxed), 1);
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
        settle();
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
        // Known bug 7: a message that does not fit is dropped and its buffer freed, not leaked.
        let mut msg = GenlMsg::new_notify(&netlink::FAMILY, cmd::READY, Gfp::KERNEL)?;
        let mut result = Ok(());
        for _ in 0..10000 {
            result = msg.put_u32(attr_accept::HANDLER_CLASS, 1);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(EMSGSIZE));
        msg.set_destructor(count_freed);
        let before = MESSAGES_FREED.load(Ordering::Relaxed);
        drop(msg);
        assert_eq!(MESSAGES_FREED.load(Ordering::Relaxed), before + 1);
        Ok(())
    }

    /// Buffers freed that `failed_message_is_freed` marked.
    static MESSAGES_FREED: AtomicU32 = AtomicU32::new(0);

    /// The destructor `failed_message_is_freed` gives its message's buffer.
    extern "C" fn count_freed(_skb: *mut bindings::sk_buff) {
        MESSAGES_FREED.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits (sleeping) until `flag` is set, for at most about two seconds.
    fn wait_for(flag: &AtomicBool) -> bool {
        for _ in 0..20000 {
            if flag.load(Ordering::Acquire) {
                return true;
            }
            kernel::time::delay::fsleep(kernel::time::Delta::from_micros(100));
        }
        false
    }

    /// Releases every file reference a kernel thread dropped and every sock freed after a
    /// grace period, so that destruction is complete.
    fn settle() {
        // SAFETY: Process context.
        unsafe {
            bindings::flush_delayed_fput();
            bindings::rcu_barrier();
        }
    }

    /// Rounds of each race.
    const ROUNDS: usize = 200;

    /// Whether a race runs another round: always for the first [`ROUNDS`], then (with a
    /// second CPU) until one round ran its two sides on different CPUs, for at most ten times
    /// as many. Where the work item runs is the scheduler's choice: in the emulator it is the
    /// other CPU in one or two rounds of a hundred, so a fixed count would sometimes see none.
    fn another_round(rounds: usize, crossed: usize) -> bool {
        rounds < ROUNDS || (crossed == 0 && kernel::cpu::nr_cpu_ids() > 1 && rounds < 10 * ROUNDS)
    }

    /// With a second CPU, some rounds of a race ran their two sides on different CPUs.
    fn assert_two_cpus_raced(rounds: usize, crossed: usize) {
        if kernel::cpu::nr_cpu_ids() > 1 {
            pr_info!("{crossed} of {rounds} rounds raced on two CPUs\n");
            assert!(crossed > 0);
        }
    }

    /// A socket handed to a work item, which closes it.
    struct Owned(TestSocket);

    // SAFETY: The socket and its file may be released from any thread.
    unsafe impl Send for Owned {}

    #[test]
    fn accept_races_cancel_and_close() -> Result {
        // Known bug 14: an agent's ACCEPT on one CPU, the consumer's cancel and close on the
        // other, many times. ACCEPT must either find nothing or get a file reference that
        // stays valid (KASAN and the file count would see a use after free); the consumer's
        // callback never runs, the cancel always wins, every socket is destroyed.
        let hn = test_hn(5);
        let (mut rounds, mut crossed) = (0, 0);
        while another_round(rounds, crossed) {
            rounds += 1;
            let (ts, rec, _) = submitted(&hn)?;
            let key = ts.key();
            let go = Arc::new(AtomicBool::new(false), GFP_KERNEL)?;
            let done = Arc::new(AtomicBool::new(false), GFP_KERNEL)?;
            let won = Arc::new(AtomicU32::new(0), GFP_KERNEL)?;
            let cpu = Arc::new(AtomicU32::new(u32::MAX), GFP_KERNEL)?;
            let (g, d, w, c, owned) = (
                go.clone(),
                done.clone(),
                won.clone(),
                cpu.clone(),
                Owned(ts),
            );
            kernel::workqueue::system_unbound().try_spawn(GFP_KERNEL, move || {
                let owned = owned;
                while !g.load(Ordering::Acquire) {
                    core::hint::spin_loop();
                }
                c.store(CpuId::current().as_u32(), Ordering::Relaxed);
                w.store(
                    u32::from(request::cancel(owned.0.sk())) + 1,
                    Ordering::SeqCst,
                );
                owned.0.close();
                d.store(true, Ordering::Release);
            })?;
            go.store(true, Ordering::Release);
            let accepted = accept_next(&hn);
            let here = CpuId::current().as_u32();
            if let Some((_, file)) = &accepted {
                // The agent's reference holds the file whatever the consumer does.
                assert!(file_count(file) >= 1);
            }
            assert!(wait_for(&done));
            crossed += usize::from(cpu.load(Ordering::Relaxed) != here);
            drop(accepted);
            settle();
            assert_eq!(won.load(Ordering::SeqCst), 2);
            assert_eq!(rec.calls(), 0);
            assert!(request::lookup(key).is_none());
            assert!(rec.destroyed());
        }
        assert_two_cpus_raced(rounds, crossed);
        Ok(())
    }

    #[test]
    fn fast_agent_completes_during_announce() -> Result {
        // Known bug 15, one interleaving made certain: while submit is still announcing, an
        // agent accepts the request and reports DONE. The failed announcement must then not
        // take the request back: submit succeeds and the consumer hears once.
        let hn = test_hn(5);
        let ts = TestSocket::new()?;
        let rec = Recorder::new();
        let before = ts.count();
        let agent_hn = hn.clone();
        let ret = request::submit_to(
            &hn,
            ts.socket(),
            test_proto(&rec),
            Gfp::KERNEL,
            |_, _, _| {
                let (req, file) = accept_next(&agent_hn).ok_or(EAGAIN)?;
                drop(file);
                req.complete(Status::OK, None);
                Err(ESRCH)
            },
        );
        assert_eq!(ret, Ok(()));
        assert_eq!(rec.calls(), 1);
        assert_eq!(rec.status(), 0);
        assert_eq!(ts.count(), before);
        assert!(request::lookup(ts.key()).is_some());
        ts.close();
        assert!(rec.destroyed());
        Ok(())
    }

    #[test]
    fn accept_and_done_race_submit() -> Result {
        // Known bug 15 under a real race: an agent on another CPU polls ACCEPT and completes
        // whatever it gets, while submit announces and then (finding no listener) withdraws.
        // Exactly one side wins: submit fails and the consumer never hears, or submit succeeds
        // and the consumer hears once.
        let hn = test_hn(5);
        let (mut rounds, mut crossed) = (0, 0);
        while another_round(rounds, crossed) {
            rounds += 1;
            let ts = TestSocket::new()?;
            let rec = Recorder::new();
            let before = ts.count();
            let stop = Arc::new(AtomicBool::new(false), GFP_KERNEL)?;
            let done = Arc::new(AtomicBool::new(false), GFP_KERNEL)?;
            let cpu = Arc::new(AtomicU32::new(u32::MAX), GFP_KERNEL)?;
            let (s, d, c, agent_hn) = (stop.clone(), done.clone(), cpu.clone(), hn.clone());
            kernel::workqueue::system_unbound().try_spawn(GFP_KERNEL, move || {
                c.store(CpuId::current().as_u32(), Ordering::Relaxed);
                loop {
                    if let Some((req, file)) = accept_next(&agent_hn) {
                        drop(file);
                        req.complete(Status::OK, None);
                        break;
                    }
                    if s.load(Ordering::Acquire) {
                        break;
                    }
                    core::hint::spin_loop();
                }
                d.store(true, Ordering::Release);
            })?;
            let ret = request::submit_to(
                &hn,
                ts.socket(),
                test_proto(&rec),
                Gfp::KERNEL,
                |_, _, _| Err(ESRCH),
            );
            let here = CpuId::current().as_u32();
            stop.store(true, Ordering::Release);
            assert!(wait_for(&done));
            crossed += usize::from(cpu.load(Ordering::Relaxed) != here);
            match ret {
                Ok(()) => assert_eq!(rec.calls(), 1),
                Err(e) => {
                    assert_eq!(e, ESRCH);
                    assert_eq!(rec.calls(), 0);
                    assert!(request::lookup(ts.key()).is_none());
                }
            }
            assert_eq!(ts.count(), before);
            ts.close();
            settle();
            assert!(rec.destroyed());
        }
        assert_two_cpus_raced(rounds, crossed);
        Ok(())
    }

    /// A timer whose callback cancels a request, as a consumer's socket callback does in
    /// softirq context.
    #[repr(C)]
    struct SoftirqCancel {
        timer: bindings::timer_list,
        sk: *mut bindings::sock,
        won: AtomicU32,
        fired: AtomicBool,
    }

    /// # Safety
    ///
    /// Called by the timer core with the `timer` of a live [`SoftirqCancel`].
    unsafe extern "C" fn cancel_in_softirq(timer: *mut bindings::timer_list) {
        // SAFETY: `timer` is the first field of a `SoftirqCancel` that outlives the timer.
        let this = unsafe { &*timer.cast::<SoftirqCancel>() };
        // SAFETY: The test keeps the socket alive until the timer has run.
        let won = request::cancel(unsafe { Sock::from_raw(this.sk) });
        this.won.store(u32::from(won) + 1, Ordering::SeqCst);
        this.fired.store(true, Ordering::Release);
    }

    #[test]
    fn cancel_from_a_timer_in_softirq() -> Result {
        // Known bug 11: a consumer cancels from softirq context (a timer here, a socket
        // callback in SunRPC). Lockdep records the service's locks as taken in softirq; any
        // path that takes one of them with bottom halves enabled is then reported, which fails
        // the run. Submit, accept and complete run again afterwards to give it the chance.
        let hn = test_hn(5);
        let (ts, rec, before) = submitted(&hn)?;
        let mut t = KBox::new(
            SoftirqCancel {
                timer: Default::default(),
                sk: NonNull::from(ts.sk()).as_ptr().cast(),
                won: AtomicU32::new(0),
                fired: AtomicBool::new(false),
            },
            GFP_KERNEL,
        )?;
        // SAFETY: The timer is initialised here, armed once and deleted (waiting for its
        // callback) before the box is freed.
        unsafe {
            bindings::timer_init_key(
                &mut t.timer,
                Some(cancel_in_softirq),
                0,
                c"handshake_test_softirq_cancel".as_char_ptr(),
                kernel::static_lock_class!().as_ptr(),
            );
            bindings::mod_timer(&mut t.timer, bindings::jiffies + 1);
        }
        let fired = wait_for(&t.fired);
        // SAFETY: Initialised above; waits for a running callback.
        unsafe { bindings::timer_delete_sync(&mut t.timer) };
        assert!(fired);
        assert_eq!(t.won.load(Ordering::SeqCst), 2);
        assert_eq!(ts.count(), before);
        assert_eq!(rec.calls(), 0);
        ts.close();
        // The whole life cycle once more, in process context, after the softirq usage.
        let (ts, rec, _) = submitted(&hn)?;
        let (req, file) = accept_next(&hn).ok_or(EAGAIN)?;
        drop(file);
        req.complete(Status::OK, None);
        assert_eq!(rec.calls(), 1);
        drop(req);
        ts.close();
        Ok(())
    }
}
