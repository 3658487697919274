// SPDX-License-Identifier: GPL-2.0
/*
 * A throwaway module for the test runner's own tests: it misbehaves on
 * request so that the runner can be shown to notice.
 *
 *   mode=ok    load quietly
 *   mode=warn  WARN at load
 *   mode=fail  refuse to load (-EINVAL)
 *   mode=leak  allocate memory and lose it
 *
 * With kunit=1 it also carries a KUnit suite with one passing and one
 * failing case.
 */
#include <linux/module.h>
#include <linux/bug.h>
#include <linux/slab.h>
#include <kunit/test.h>

static char *mode = "ok";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "ok, warn, fail or leak");

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
	return 0;
}

static void __exit selftest_exit(void)
{
}

module_init(selftest_init);
module_exit(selftest_exit);
MODULE_DESCRIPTION("Throwaway module for the test runner's own tests");
MODULE_LICENSE("GPL");
