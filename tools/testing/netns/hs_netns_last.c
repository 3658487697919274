// SPDX-License-Identifier: GPL-2.0
/*
 * The last word on a dying network namespace, for the netns tier.
 *
 * A namespace's exit runs the per-namespace operations in the reverse order
 * of their registration. This module is loaded before the handshake module,
 * so its exit runs after the handshake module's (which drains the
 * namespace's pending requests) and calls the function the test consumer,
 * loaded after the handshake module, set with hs_netns_last_set(). The
 * consumer's own per-namespace data is freed only after every exit ran.
 */

#include <linux/module.h>
#include <net/net_namespace.h>

#include "hs_netns_last.h"

static void (*hs_netns_last_fn)(struct net *net);

/*
 * Sets the function called at each namespace's exit, or none. Whoever sets
 * one must unregister per-namespace operations of its own before it goes
 * away: that waits for the exits in progress.
 */
void hs_netns_last_set(void (*fn)(struct net *net))
{
	WRITE_ONCE(hs_netns_last_fn, fn);
}
EXPORT_SYMBOL_GPL(hs_netns_last_set);

static void __net_exit hs_netns_last_exit(struct net *net)
{
	void (*fn)(struct net *net) = READ_ONCE(hs_netns_last_fn);

	if (fn)
		fn(net);
}

static struct pernet_operations hs_netns_last_ops = {
	.exit = hs_netns_last_exit,
};

static int __init hs_netns_last_init(void)
{
	return register_pernet_subsys(&hs_netns_last_ops);
}

static void __exit hs_netns_last_mod_exit(void)
{
	unregister_pernet_subsys(&hs_netns_last_ops);
}

module_init(hs_netns_last_init);
module_exit(hs_netns_last_mod_exit);
MODULE_DESCRIPTION("Runs a test consumer's namespace exit after the handshake module's");
MODULE_LICENSE("GPL");
