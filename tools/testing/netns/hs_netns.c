// SPDX-License-Identifier: GPL-2.0
/*
 * A consumer of the TLS handshake API whose requests die with their network
 * namespace, for the netns tier.
 *
 * Its namespace exit runs after the handshake module's, called by
 * hs_netns_last.ko (loaded before the handshake module): the namespace's
 * pending requests have then been drained, and its kernel sockets (which
 * hold no reference on the namespace, as a kernel socket does not) are
 * released before the namespace is freed.
 *
 * A process writes to /proc/hs_netns, in its own network namespace:
 *
 *   submit N	makes N kernel TCP sockets in the namespace and submits an
 *		anonymous client hello on each, with the peername "net-INUM"
 *		(INUM: the namespace's inode number), so that an agent can
 *		tell whose request it was given;
 *   fate A D	the agent accepted A of them and sent DONE 0 for D of those.
 *
 * When the namespace exits (after the handshake module drained it), each of
 * its requests must have ended exactly once: the A - D accepted without
 * DONE either heard ta_done(-EIO) when their agent's process was gone (the
 * handshake module notices that) or are cancelled here (the cancel must
 * win then; on the others it must not),
 * the D heard ta_done(0), and the N - A never accepted heard
 * ta_done(-ETIMEDOUT) from the drain. Each socket's file must then be held
 * by this module alone.
 * Then the sockets are closed, and the file references the requests held
 * are released before this returns (every socket of the namespace is
 * destroyed then). Reading the file prints the totals.
 */

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/in.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <net/handshake.h>
#include <net/inet_common.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/sock.h>

#include "hs_netns_last.h"

struct hs_netns_req {
	struct list_head node;
	struct socket *sock;
	struct file *file;
	atomic_t done_calls;
	int status;		/* written before done_calls is raised */
	bool cancel_won;
};

/* Per namespace: its requests and what its agent said it did. */
struct hs_netns_net {
	struct mutex lock;		/* the list and the fate */
	struct list_head reqs;
	char peername[24];
	int submitted, accepted, done;
	bool fate_told;
};

static unsigned int hs_netns_id;

static atomic_t nets_alive = ATOMIC_INIT(0);
static atomic_t socks_alive = ATOMIC_INIT(0);
static atomic_t nets_exited, nets_with_requests, submitted, submit_failed;
static atomic_t done_ok, done_timedout, done_agent_gone, done_other;
static atomic_t cancel_won, cancel_lost;
static atomic_t bad_twice, bad_both, bad_neither, bad_counts, fate_missing;
static atomic_t bad_late_cancel, bad_file_refs;

static void hs_netns_sk_destruct(struct sock *sk)
{
	inet_sock_destruct(sk);
	atomic_dec(&socks_alive);
	module_put(THIS_MODULE);
}

static void hs_netns_done(void *data, int status, key_serial_t peerid)
{
	struct hs_netns_req *req = data;

	WRITE_ONCE(req->status, status);
	/* Fully ordered: whoever sees the count sees the status. */
	atomic_inc_return(&req->done_calls);
}

static int hs_netns_submit(struct net *net, unsigned int n)
{
	struct hs_netns_net *hn = net_generic(net, hs_netns_id);
	struct tls_handshake_args args = {};
	struct hs_netns_req *req;
	int ret = 0;

	mutex_lock(&hn->lock);
	for (; n; n--) {
		req = kzalloc_obj(*req, GFP_KERNEL);
		if (!req) {
			ret = -ENOMEM;
			break;
		}
		ret = sock_create_kern(net, PF_INET, SOCK_STREAM, IPPROTO_TCP,
				       &req->sock);
		if (ret) {
			kfree(req);
			break;
		}
		req->file = sock_alloc_file(req->sock, 0, NULL);
		if (IS_ERR(req->file)) {
			ret = PTR_ERR(req->file);
			kfree(req);
			break;
		}
		/* Each socket holds this module until it is destroyed. */
		__module_get(THIS_MODULE);
		atomic_inc(&socks_alive);
		req->sock->sk->sk_destruct = hs_netns_sk_destruct;
		args.ta_sock = req->sock;
		args.ta_done = hs_netns_done;
		args.ta_data = req;
		args.ta_peername = hn->peername;
		args.ta_timeout_ms = 60000;
		ret = tls_client_hello_anon(&args, GFP_KERNEL);
		if (ret) {
			atomic_inc(&submit_failed);
			fput(req->file);
			kfree(req);
			break;
		}
		atomic_inc(&submitted);
		hn->submitted++;
		list_add_tail(&req->node, &hn->reqs);
	}
	mutex_unlock(&hn->lock);
	return ret;
}

static int __net_init hs_netns_init(struct net *net)
{
	struct hs_netns_net *hn = net_generic(net, hs_netns_id);

	mutex_init(&hn->lock);
	INIT_LIST_HEAD(&hn->reqs);
	snprintf(hn->peername, sizeof(hn->peername), "net-%u", net->ns.inum);
	atomic_inc(&nets_alive);
	return 0;
}

/*
 * Called by hs_netns_last.ko after the handshake module's exit for this
 * namespace: it was drained. This module's data for it is still there.
 */
static void hs_netns_last_exit(struct net *net)
{
	struct hs_netns_net *hn = net_generic(net, hs_netns_id);
	int timedout = 0, ok = 0, won = 0, gone = 0, calls;
	struct hs_netns_req *req, *tmp;
	bool any = false;

	/* A namespace whose setup failed before this module's init ran. */
	if (!hn)
		return;
	mutex_lock(&hn->lock);
	list_for_each_entry(req, &hn->reqs, node) {
		any = true;
		calls = atomic_read_acquire(&req->done_calls);
		/*
		 * Every request is cancelled: one that ended (ta_done) must
		 * refuse; one that did not (accepted, its agent gone) must win.
		 */
		req->cancel_won = tls_handshake_cancel(req->sock->sk);
		if (req->cancel_won && calls) {
			atomic_inc(&bad_late_cancel);
		} else if (req->cancel_won) {
			atomic_inc(&cancel_won);
			won++;
			continue;
		} else if (!calls) {
			atomic_inc(&cancel_lost);
			atomic_inc(&bad_neither);
			continue;
		}
		if (calls > 1)
			atomic_inc(&bad_twice);
		if (READ_ONCE(req->status) == -ETIMEDOUT) {
			atomic_inc(&done_timedout);
			timedout++;
		} else if (!READ_ONCE(req->status)) {
			atomic_inc(&done_ok);
			ok++;
		} else if (READ_ONCE(req->status) == -EIO) {
			atomic_inc(&done_agent_gone);
			gone++;
		} else {
			atomic_inc(&done_other);
		}
	}
	if (any) {
		atomic_inc(&nets_with_requests);
		if (!hn->fate_told)
			atomic_inc(&fate_missing);
		else if (timedout != hn->submitted - hn->accepted ||
			 ok != hn->done || won + gone != hn->accepted - hn->done)
			atomic_inc(&bad_counts);
	}
	list_for_each_entry(req, &hn->reqs, node) {
		/*
		 * Ended, and the agent gone: only this module's reference is
		 * left (the request's and the agent's were dropped, even if
		 * their final release is deferred).
		 */
		if (file_count(req->file) != 1)
			atomic_inc(&bad_file_refs);
		fput(req->file);
	}
	/*
	 * The requests' and these references were dropped from a kernel
	 * thread, which defers the last fput: finish them while the namespace
	 * still exists. No ta_done can come after that.
	 */
	flush_delayed_fput();
	list_for_each_entry_safe(req, tmp, &hn->reqs, node) {
		if (req->cancel_won && atomic_read(&req->done_calls))
			atomic_inc(&bad_both);
		list_del(&req->node);
		kfree(req);
	}
	mutex_unlock(&hn->lock);
	atomic_dec(&nets_alive);
	atomic_inc(&nets_exited);
}

static struct pernet_operations hs_netns_ops = {
	.init = hs_netns_init,
	.id = &hs_netns_id,
	.size = sizeof(struct hs_netns_net),
};

static int hs_netns_show(struct seq_file *m, void *v)
{
	seq_printf(m, "nets_alive=%d\nnets_exited=%d\nnets_with_requests=%d\n",
		   atomic_read(&nets_alive), atomic_read(&nets_exited),
		   atomic_read(&nets_with_requests));
	seq_printf(m, "sockets_alive=%d\n", atomic_read(&socks_alive));
	seq_printf(m, "submitted=%d\nsubmit_failed=%d\n",
		   atomic_read(&submitted), atomic_read(&submit_failed));
	seq_printf(m, "done_ok=%d\ndone_timedout=%d\ndone_agent_gone=%d\ndone_other=%d\n",
		   atomic_read(&done_ok), atomic_read(&done_timedout),
		   atomic_read(&done_agent_gone), atomic_read(&done_other));
	seq_printf(m, "cancel_won=%d\ncancel_lost=%d\n",
		   atomic_read(&cancel_won), atomic_read(&cancel_lost));
	seq_printf(m, "bad_twice=%d\nbad_both=%d\nbad_neither=%d\nbad_counts=%d\nfate_missing=%d\n",
		   atomic_read(&bad_twice), atomic_read(&bad_both),
		   atomic_read(&bad_neither), atomic_read(&bad_counts),
		   atomic_read(&fate_missing));
	seq_printf(m, "bad_late_cancel=%d\nbad_file_refs=%d\n",
		   atomic_read(&bad_late_cancel), atomic_read(&bad_file_refs));
	return 0;
}

static int hs_netns_open(struct inode *inode, struct file *file)
{
	return single_open(file, hs_netns_show, NULL);
}

static ssize_t hs_netns_write(struct file *file, const char __user *ubuf,
			      size_t len, loff_t *pos)
{
	struct net *net = current->nsproxy->net_ns;
	struct hs_netns_net *hn = net_generic(net, hs_netns_id);
	unsigned int n, a, d;
	char buf[32];
	int ret = -EINVAL;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sscanf(buf, "submit %u", &n) == 1 && n <= 64) {
		ret = hs_netns_submit(net, n);
	} else if (sscanf(buf, "fate %u %u", &a, &d) == 2 && d <= a) {
		mutex_lock(&hn->lock);
		hn->accepted = a;
		hn->done = d;
		hn->fate_told = true;
		mutex_unlock(&hn->lock);
		ret = 0;
	}
	return ret ? ret : len;
}

static const struct proc_ops hs_netns_proc_ops = {
	.proc_open = hs_netns_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
	.proc_write = hs_netns_write,
};

static int __init hs_netns_mod_init(void)
{
	int ret = register_pernet_subsys(&hs_netns_ops);

	if (ret)
		return ret;
	hs_netns_last_set(hs_netns_last_exit);
	/* Writable from every namespace: the file is in the initial /proc. */
	if (!proc_create("hs_netns", 0600, NULL, &hs_netns_proc_ops)) {
		hs_netns_last_set(NULL);
		unregister_pernet_subsys(&hs_netns_ops);
		return -ENOMEM;
	}
	return 0;
}

static void __exit hs_netns_mod_exit(void)
{
	remove_proc_entry("hs_netns", NULL);
	hs_netns_last_set(NULL);
	/* Waits for namespace exits in progress, which may be in ours. */
	unregister_pernet_subsys(&hs_netns_ops);
}

module_init(hs_netns_mod_init);
module_exit(hs_netns_mod_exit);
MODULE_DESCRIPTION("Consumer of the TLS handshake API dying with its namespaces, for tests");
MODULE_LICENSE("GPL");
