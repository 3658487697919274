// SPDX-License-Identifier: GPL-2.0
/*
 * A throwaway module for the test runner's own tests: it misbehaves on
 * request so that the runner can be shown to notice.
 *
 *   mode=ok      load quietly
 *   mode=warn    WARN at load
 *   mode=fail    refuse to load (-EINVAL)
 *   mode=leak    allocate memory and lose it
 *   mode=lockdep take two locks in both orders (lockdep reports it)
 *   mode=stall   spin in a kernel thread until RCU-tasks reports a stall
 *   mode=uaf     read a freed object (KASAN reports it)
 *   mode=hung    block in D state for "seconds" (the hung task detector
 *                reports it once its timeout is below that)
 *
 * With kunit=1 it also carries a KUnit suite with one passing and one
 * failing case.
 */
#include <linux/module.h>
#include <linux/bug.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <kunit/test.h>

static char *mode = "ok";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "ok, warn, fail, leak, lockdep, stall, uaf or hung");

static unsigned int seconds = 30;
module_param(seconds, uint, 0444);
MODULE_PARM_DESC(seconds, "how long stall and hung last");

#ifdef SELFTEST_KUNIT
static void selftest_passes(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, 1 + 1, 2);
}

static void selftest_fails_on_purpose(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, 1 + 1, 3);
}

static struct kunit_case selftest_cases[] = {
	KUNIT_CASE(selftest_passes),
	KUNIT_CASE(selftest_fails_on_purpose),
	{}
};

static struct kunit_suite selftest_suite = {
	.name = "runner_selftest",
	.test_cases = selftest_cases,
};

kunit_test_suite(selftest_suite);
#endif

static void *selftest_lost;
static DEFINE_SPINLOCK(selftest_a);
static DEFINE_SPINLOCK(selftest_b);

static int selftest_spinner(void *unused)
{
	unsigned long end = jiffies + seconds * HZ;

	/* Preemptible, but never a voluntary switch. */
	while (time_before(jiffies, end))
		cpu_relax();
	return 0;
}

static int __init selftest_init(void)
{
	if (!strcmp(mode, "warn"))
		WARN(1, "runner self-test: deliberate warning\n");
	if (!strcmp(mode, "fail"))
		return -EINVAL;
	if (!strcmp(mode, "leak")) {
		int i;

		/*
		 * Lose many objects: kmemleak is conservative, and a stale copy
		 * of one pointer (a reused stack) may keep it from being
		 * reported.
		 */
		for (i = 0; i < 64; i++)
			WRITE_ONCE(selftest_lost, kmalloc(512 + 64 * i, GFP_KERNEL));
		WRITE_ONCE(selftest_lost, NULL);
	}
	if (!strcmp(mode, "lockdep")) {
		spin_lock(&selftest_a);
		spin_lock(&selftest_b);
		spin_unlock(&selftest_b);
		spin_unlock(&selftest_a);
		spin_lock(&selftest_b);
		spin_lock(&selftest_a);
		spin_unlock(&selftest_a);
		spin_unlock(&selftest_b);
	}
	if (!strcmp(mode, "stall")) {
		/*
		 * A kernel thread that never schedules voluntarily holds up an
		 * RCU-tasks grace period (this works on one CPU too).
		 */
		kthread_run(selftest_spinner, NULL, "selftest_spin");
		synchronize_rcu_tasks();
	}
	if (!strcmp(mode, "uaf")) {
		char *gone = kmalloc(64, GFP_KERNEL);

		if (!gone)
			return -ENOMEM;
		kfree(gone);
		/* Keep the compiler from seeing that the object is gone. */
		OPTIMIZER_HIDE_VAR(gone);
		pr_info("runner self-test: read %d from a freed object\n",
			READ_ONCE(gone[8]));
	}
	if (!strcmp(mode, "hung"))
		schedule_timeout_uninterruptible(seconds * HZ);
	return 0;
}

static void __exit selftest_exit(void)
{
}

module_init(selftest_init);
module_exit(selftest_exit);
MODULE_DESCRIPTION("Throwaway module for the test runner's own tests");
MODULE_LICENSE("GPL");
