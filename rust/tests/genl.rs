// SPDX-License-Identifier: GPL-2.0

//! `handshake_genl`: the family's tables and the default limit.

use super::*;
use crate::{
    abstractions::{
        genl::{
            DoHandler,
            Info,
            Perm,
            Policy,
            SplitOp, //
        },
        net::NetRef,
    },
    genl_tables::{
        self as tables,
        attr_accept,
        cmd, //
    },
    netlink::{
        self,
        FAMILY, //
    },
    stats::{
        ErrnoCounts,
        ERRNO_SLOTS, //
    },
};

static CALLS: AtomicU32 = AtomicU32::new(0);
static SILENT: AtomicU32 = AtomicU32::new(0);

/// Starts counting announcements, the first `silent` of which find nobody listening.
fn counting_announce_reset(silent: u32) {
    CALLS.store(0, Ordering::SeqCst);
    SILENT.store(silent, Ordering::SeqCst);
}

/// An announcement that counts its calls and answers `ESRCH` to the first `SILENT`.
fn counting_announce(_net: &Net, _class: HandlerClass, _gfp: Gfp) -> Result {
    let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if n <= SILENT.load(Ordering::SeqCst) {
        Err(ESRCH)
    } else {
        Ok(())
    }
}

/// The number of announcements once no new one came for 500 ms (about four seconds at most).
fn calls_settled() -> u32 {
    let mut last = CALLS.load(Ordering::SeqCst);
    let mut still = 0;
    for _ in 0..400 {
        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(10));
        let now = CALLS.load(Ordering::SeqCst);
        if now == last {
            still += 1;
            if still == 50 {
                break;
            }
        } else {
            (last, still) = (now, 0);
        }
    }
    last
}

/// An operation of no family, whose permission a case changes.
struct NoOp;

impl DoHandler for NoOp {
    const MAXATTR: u16 = 0;
    const POLICY: &'static [Policy] = &[Policy::unspec()];

    fn doit(_info: &Info<'_>) -> Result {
        Ok(())
    }
}

static LOOSENED: SplitOp = SplitOp::new_do::<NoOp>(1, Perm::Admin);

#[kunit_tests(handshake_genl)]
mod cases {
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
        // Only agents may join `tlshd`; the family hears of every join.
        let groups = netlink::mcgrps();
        assert!(!groups[0].needs_net_admin());
        assert!(groups[1].needs_net_admin());
        assert!(fam.bind.is_some());
        // DONE is parsed liberally (unknown attributes are skipped), which the core allows only
        // below `resv_start_op`; ACCEPT strictly.
        assert_eq!(fam.resv_start_op, cmd::DONE + 1);
        assert_eq!(netlink::ops()[0].validate(), 0);
        assert_eq!(
            u32::from(netlink::ops()[1].validate()),
            bindings::genl_validate_flags_GENL_DONT_VALIDATE_STRICT
        );
    }

    #[test]
    fn ready_sent_again_once_an_agent_listens() -> Result {
        let hn = test_hn(5);
        let (a, _ra, _) = submitted(&hn)?;
        let (b, _rb, _) = submitted(&hn)?;
        let net = || NetRef::get(Net::init_net()).expect("the initial namespace lives");
        // Nobody hears the first two tries; then each pending request gets one READY.
        counting_announce_reset(2);
        request::ready_again(hn.clone(), net(), HandlerClass::Tlshd, counting_announce);
        assert_eq!(calls_settled(), 4);
        // Agents joining while one is under way: one more round, not one each.
        counting_announce_reset(0);
        for _ in 0..3 {
            request::ready_again(hn.clone(), net(), HandlerClass::Tlshd, counting_announce);
        }
        assert_eq!(calls_settled(), 4);
        // Nothing pending, nothing sent.
        assert!(request::cancel(a.sk()));
        assert!(request::cancel(b.sk()));
        counting_announce_reset(0);
        request::ready_again(hn.clone(), net(), HandlerClass::Tlshd, counting_announce);
        assert_eq!(calls_settled(), 0);
        // Nobody ever listens: it gives up after a bounded number of tries.
        let (c, _rc, _) = submitted(&hn)?;
        counting_announce_reset(u32::MAX);
        request::ready_again(hn.clone(), net(), HandlerClass::Tlshd, counting_announce);
        assert_eq!(calls_settled(), request::READY_AGAIN_TICKS);
        assert!(request::cancel(c.sk()));
        a.close();
        b.close();
        c.close();
        Ok(())
    }

    #[test]
    fn errno_counts_keep_sixteen_then_count_others() {
        let counts = ErrnoCounts::default();
        counts.add(0);
        counts.add(13);
        counts.add(0);
        for e in 100..100 + ERRNO_SLOTS as u32 {
            counts.add(e);
        }
        let mut seen = KVec::new();
        for (errno, count) in counts.iter() {
            seen.push((errno, count), GFP_KERNEL).expect("no memory");
        }
        assert_eq!(seen.len(), ERRNO_SLOTS);
        assert_eq!(seen[0], (0, 2));
        assert_eq!(seen[1], (13, 1));
        assert_eq!(seen[2], (100, 1));
        // Slots 100..113 took the rest; 114 and 115 had none left.
        assert_eq!(counts.other(), 2);
        counts.add(13);
        assert_eq!(counts.iter().nth(1), Some((13, 2)));
        counts.add_error(EAGAIN);
        assert_eq!(counts.other(), 3);
    }

    #[test]
    fn pending_limit_formula() {
        let max = request::default_pending_max();
        assert!((3..=50).contains(&max));
        let mut si = bindings::sysinfo::default();
        // SAFETY: `si` is a valid out parameter.
        unsafe { bindings::si_meminfo(&mut si) };
        let expect = (si.totalram as u64 / (25 * u64::from(si.mem_unit))).clamp(3, 50) as usize;
        assert_eq!(max, expect);
        let hn = test_hn(max);
        let q = hn.queue().lock();
        assert_eq!(hn.pending_max(), max);
        assert_eq!(q.pending(), 0);
    }

    #[test]
    fn set_perm_changes_only_the_permission() {
        let admin = (bindings::GENL_ADMIN_PERM | bindings::GENL_CMD_CAP_DO) as u8;
        let uns_admin = (bindings::GENL_UNS_ADMIN_PERM | bindings::GENL_CMD_CAP_DO) as u8;
        assert_eq!(LOOSENED.flags(), admin);
        LOOSENED.set_perm(Perm::UnsAdmin);
        assert_eq!(LOOSENED.flags(), uns_admin);
        LOOSENED.set_perm(Perm::UnsAdmin);
        assert_eq!(LOOSENED.flags(), uns_admin);
        LOOSENED.set_perm(Perm::Admin);
        assert_eq!(LOOSENED.flags(), admin);
        assert_eq!((LOOSENED.cmd(), LOOSENED.maxattr()), (1, 0));
        // A namespace's agents are the initial user namespace's until it opts in.
        assert!(!test_hn(3).agent_userns());
    }
}
