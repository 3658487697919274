// SPDX-License-Identifier: GPL-2.0
/*
 * A minimal handshake consumer for the unload tests: at load it submits one
 * anonymous client handshake on a fresh kernel TCP socket and leaves it to
 * the agent; at unload it cancels the request (if it is still open) and
 * drops its socket, as a consumer shutting down does.  The socket itself
 * lives on while an agent still holds it as an fd.
 */
#include <linux/module.h>
#include <linux/net.h>
#include <linux/file.h>
#include <linux/in.h>
#include <net/sock.h>
#include <net/net_namespace.h>
#include <net/handshake.h>

static struct socket *hs_sock;
static int hs_status = 1;	/* 1: no ta_done yet */

static void hs_pending_done(void *data, int status, key_serial_t peerid)
{
	WRITE_ONCE(hs_status, status);
}

static int __init hs_pending_init(void)
{
	struct tls_handshake_args args = {
		.ta_done = hs_pending_done,
		.ta_timeout_ms = 1000,
	};
	struct file *file;
	int err;

	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &hs_sock);
	if (err)
		return err;
	file = sock_alloc_file(hs_sock, O_NONBLOCK, NULL);
	if (IS_ERR(file))
		return PTR_ERR(file);	/* sock_alloc_file released it */

	args.ta_sock = hs_sock;
	err = tls_client_hello_anon(&args, GFP_KERNEL);
	if (err) {
		fput(file);
		return err;
	}
	return 0;
}

static void __exit hs_pending_exit(void)
{
	if (tls_handshake_cancel(hs_sock->sk))
		pr_info("hs_pending: request cancelled\n");
	else
		pr_info("hs_pending: request already completed (%d)\n",
			READ_ONCE(hs_status));
	fput(hs_sock->file);
}

module_init(hs_pending_init);
module_exit(hs_pending_exit);
MODULE_DESCRIPTION("Handshake consumer that leaves a request open, for unload tests");
MODULE_LICENSE("GPL");
