// SPDX-License-Identifier: GPL-2.0
/*
 * A consumer of the TLS handshake API for the faults tier. It submits one
 * request at a time from the task that writes the command, so that the
 * writer's /proc/self/fail-nth reaches the allocations the handshake module
 * makes while submitting and announcing the request.
 *
 * Commands written to /proc/hs_fault:
 *
 *   submit KIND GFP [KEYRING]
 *	KIND is client_anon, client_x509, client_psk, server_x509 or
 *	server_psk; GFP is "kernel", or "atomic" (GFP_ATOMIC under a spinlock
 *	with bottom halves off). A new kernel TCP socket is made and the hello
 *	submitted; KEYRING, if given, is handed to the agent. After a failed
 *	submit the socket's destructor and its file's reference count must be
 *	what they were before.
 *   end
 *	ends the current request: if no ta_done came, it is cancelled (a
 *	cancel that returns false waits for its ta_done), then the socket is
 *	closed.
 *   check
 *	verifies that every request ended exactly once (one ta_done, or a
 *	cancel that returned true, never both, never neither) and that no
 *	request whose submit failed heard anything, then frees them.
 *
 * Reading the file prints the last request's outcome so far ("last_*": its
 * submit, and the ta_done calls, status, peer id and cancel it has had),
 * whether it is still open, and the totals.
 */

#include <linux/file.h>
#include <linux/in.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <net/handshake.h>
#include <net/inet_common.h>
#include <net/net_namespace.h>
#include <net/sock.h>

struct hs_fault_req {
	struct list_head node;
	struct socket *sock;
	struct file *file;
	struct completion done;
	atomic_t done_calls;
	int status;
	key_serial_t peerid;
	int submit_ret;
	bool destructor_same;	/* after a failed submit */
	bool fcount_same;	/* after a failed submit */
	bool cancel_won;
};

enum hs_kind {
	HS_CLIENT_ANON, HS_CLIENT_X509, HS_CLIENT_PSK,
	HS_SERVER_X509, HS_SERVER_PSK, HS_KINDS
};

static const char * const hs_kind_names[HS_KINDS] = {
	"client_anon", "client_x509", "client_psk", "server_x509", "server_psk",
};

static DEFINE_MUTEX(hs_lock);		/* serialises the commands */
static DEFINE_SPINLOCK(hs_atomic_lock);
static LIST_HEAD(hs_reqs);
static struct hs_fault_req *hs_cur;	/* submitted, not ended yet */
static struct hs_fault_req *hs_last;	/* the last one submitted, until check */
static atomic_t hs_socks_alive = ATOMIC_INIT(0);

static int submitted, refused, done_total, cancel_won;
static int checked, bad_twice, bad_both, bad_neither, bad_refused;

static void hs_fault_sk_destruct(struct sock *sk)
{
	inet_sock_destruct(sk);
	atomic_dec(&hs_socks_alive);
	module_put(THIS_MODULE);
}

static void hs_fault_done(void *data, int status, key_serial_t peerid)
{
	struct hs_fault_req *req = data;

	req->status = status;
	req->peerid = peerid;
	atomic_inc(&req->done_calls);
	complete(&req->done);
}

static int hs_fault_hello(enum hs_kind kind, struct tls_handshake_args *args,
			  gfp_t gfp)
{
	switch (kind) {
	case HS_CLIENT_ANON:
		return tls_client_hello_anon(args, gfp);
	case HS_CLIENT_X509:
		return tls_client_hello_x509(args, gfp);
	case HS_CLIENT_PSK:
		return tls_client_hello_psk(args, gfp);
	case HS_SERVER_X509:
		return tls_server_hello_x509(args, gfp);
	default:
		return tls_server_hello_psk(args, gfp);
	}
}

static int hs_fault_submit(enum hs_kind kind, bool atomic, int keyring)
{
	struct tls_handshake_args args = {};
	void (*destructor)(struct sock *sk);
	struct hs_fault_req *req;
	long fcount;
	int ret;

	if (hs_cur)
		return -EBUSY;
	req = kzalloc_obj(*req, GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	init_completion(&req->done);
	ret = sock_create_kern(&init_net, PF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &req->sock);
	if (ret)
		goto out_free;
	req->file = sock_alloc_file(req->sock, 0, NULL);
	if (IS_ERR(req->file)) {
		ret = PTR_ERR(req->file);
		goto out_free;	/* the socket went with it */
	}
	/* Each socket holds this module until it is destroyed. */
	__module_get(THIS_MODULE);
	atomic_inc(&hs_socks_alive);
	req->sock->sk->sk_destruct = hs_fault_sk_destruct;

	args.ta_sock = req->sock;
	args.ta_done = hs_fault_done;
	args.ta_data = req;
	args.ta_timeout_ms = 5000;
	args.ta_keyring = keyring;
	if (kind <= HS_CLIENT_PSK)
		args.ta_peername = "localhost";
	if (kind == HS_CLIENT_X509 || kind == HS_SERVER_X509) {
		args.ta_my_cert = 1001;
		args.ta_my_privkey = 1002;
	}
	if (kind == HS_CLIENT_PSK || kind == HS_SERVER_PSK) {
		args.ta_num_peerids = 1;
		args.ta_my_peerids[0] = 1003;
	}

	destructor = req->sock->sk->sk_destruct;
	fcount = file_count(req->file);
	if (atomic) {
		spin_lock_bh(&hs_atomic_lock);
		ret = hs_fault_hello(kind, &args, GFP_ATOMIC);
		spin_unlock_bh(&hs_atomic_lock);
	} else {
		ret = hs_fault_hello(kind, &args, GFP_KERNEL);
	}
	req->submit_ret = ret;
	req->destructor_same = req->sock->sk->sk_destruct == destructor;
	req->fcount_same = file_count(req->file) == fcount;
	hs_last = req;
	if (ret) {
		refused++;
		fput(req->file);
		req->file = NULL;
	} else {
		submitted++;
		hs_cur = req;
	}
	/* Kept until "check": a ta_done after this would be counted. */
	list_add_tail(&req->node, &hs_reqs);
	return 0;

out_free:
	kfree(req);
	return ret;
}

static void hs_fault_end(void)
{
	struct hs_fault_req *req = hs_cur;

	if (!req)
		return;
	if (!atomic_read(&req->done_calls)) {
		req->cancel_won = tls_handshake_cancel(req->sock->sk);
		if (req->cancel_won)
			cancel_won++;
		else
			wait_for_completion_timeout(&req->done, 5 * HZ);
	}
	done_total += atomic_read(&req->done_calls);
	fput(req->file);
	req->file = NULL;
	hs_cur = NULL;
}

static void hs_fault_check(void)
{
	struct hs_fault_req *req, *tmp;
	int calls;

	hs_fault_end();
	hs_last = NULL;
	list_for_each_entry_safe(req, tmp, &hs_reqs, node) {
		calls = atomic_read(&req->done_calls);
		checked++;
		if (req->submit_ret && calls)
			bad_refused++;
		else if (calls > 1)
			bad_twice++;
		else if (calls && req->cancel_won)
			bad_both++;
		else if (!req->submit_ret && !calls && !req->cancel_won)
			bad_neither++;
		list_del(&req->node);
		kfree(req);
	}
}

static int hs_fault_show(struct seq_file *m, void *v)
{
	struct hs_fault_req *last;

	mutex_lock(&hs_lock);
	last = hs_last;
	if (last) {
		seq_printf(m, "last_submit=%d\nlast_destructor_same=%d\nlast_fcount_same=%d\n",
			   last->submit_ret, last->destructor_same, last->fcount_same);
		seq_printf(m, "last_done_calls=%d\nlast_status=%d\nlast_peerid=%d\nlast_cancel_won=%d\n",
			   atomic_read(&last->done_calls), last->status,
			   last->peerid, last->cancel_won);
	}
	seq_printf(m, "open=%d\n", !!hs_cur);
	seq_printf(m, "submitted=%d\nrefused=%d\ndone=%d\ncancel_won=%d\n",
		   submitted, refused, done_total, cancel_won);
	seq_printf(m, "sockets_alive=%d\n", atomic_read(&hs_socks_alive));
	seq_printf(m, "checked=%d\nbad_twice=%d\nbad_both=%d\nbad_neither=%d\nbad_refused=%d\n",
		   checked, bad_twice, bad_both, bad_neither, bad_refused);
	mutex_unlock(&hs_lock);
	return 0;
}

static int hs_fault_open(struct inode *inode, struct file *file)
{
	return single_open(file, hs_fault_show, NULL);
}

static ssize_t hs_fault_write(struct file *file, const char __user *ubuf,
			      size_t len, loff_t *pos)
{
	char buf[64], kind[16], gfp[8];
	int keyring = 0, ret = -EINVAL, i, n;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	mutex_lock(&hs_lock);
	n = sscanf(buf, "submit %15s %7s %d", kind, gfp, &keyring);
	if (n >= 2) {
		for (i = 0; i < HS_KINDS; i++)
			if (!strcmp(kind, hs_kind_names[i]))
				break;
		if (i < HS_KINDS && (!strcmp(gfp, "kernel") || !strcmp(gfp, "atomic")))
			ret = hs_fault_submit(i, !strcmp(gfp, "atomic"), keyring);
	} else if (sysfs_streq(buf, "end")) {
		hs_fault_end();
		ret = 0;
	} else if (sysfs_streq(buf, "check")) {
		hs_fault_check();
		ret = 0;
	}
	mutex_unlock(&hs_lock);
	return ret ? ret : len;
}

static const struct proc_ops hs_fault_proc_ops = {
	.proc_open = hs_fault_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
	.proc_write = hs_fault_write,
};

static int __init hs_fault_init(void)
{
	if (!proc_create("hs_fault", 0600, NULL, &hs_fault_proc_ops))
		return -ENOMEM;
	return 0;
}

static void __exit hs_fault_exit(void)
{
	remove_proc_entry("hs_fault", NULL);
	mutex_lock(&hs_lock);
	hs_fault_check();
	mutex_unlock(&hs_lock);
}

module_init(hs_fault_init);
module_exit(hs_fault_exit);
MODULE_DESCRIPTION("Consumer of the TLS handshake API for fault injection tests");
MODULE_LICENSE("GPL");
