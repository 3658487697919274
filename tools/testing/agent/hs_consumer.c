// SPDX-License-Identifier: GPL-2.0
/*
 * A minimal in-kernel consumer of the TLS handshake API, for tests.
 *
 * At load it connects a kernel TCP socket to 127.0.0.1:port and asks for
 * an anonymous client handshake for "peername". With wait=1 it waits for
 * the outcome, prints it, and on success sends "line" and prints what comes
 * back (an echo server answers through kTLS). With wait=0 it leaves the
 * request to the agent. With atomic=1 it submits in atomic context (a
 * spinlock held with bottom halves off) with GFP_ATOMIC, as a consumer in a
 * socket callback would. keyring=SERIAL is handed to the agent, and
 * timeout_ms=N (10000) as the handshake's timeout. With here=1 the socket
 * is made in the network namespace of the task that loads the module
 * (insmod under nsenter -n) instead of the initial one, which it keeps
 * until unload. At unload it cancels what is left and closes.
 */

#include <linux/completion.h>
#include <linux/file.h>
#include <linux/in.h>
#include <linux/inet.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/nsproxy.h>
#include <linux/spinlock.h>
#include <linux/uio.h>
#include <net/handshake.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <net/tls_prot.h>

static int port = 4433;
module_param(port, int, 0444);
static char *peername = "localhost";
module_param(peername, charp, 0444);
static bool wait = true;
module_param(wait, bool, 0444);
static char *line = "hello over ktls\n";
module_param(line, charp, 0444);
static bool atomic;
module_param(atomic, bool, 0444);
static unsigned int timeout_ms = 10000;
module_param(timeout_ms, uint, 0444);
static int keyring;
module_param(keyring, int, 0444);
static bool here;
module_param(here, bool, 0444);
static DEFINE_SPINLOCK(hs_atomic_lock);

static struct net *hs_net;
static struct socket *hs_sock;
static struct file *hs_file;
static DECLARE_COMPLETION(hs_done);
static int hs_status = 1;

static void hs_consumer_done(void *data, int status, key_serial_t peerid)
{
	hs_status = status;
	pr_info("hs_consumer: done status=%d peerid=%d\n", status, peerid);
	complete(&hs_done);
}

static int hs_consumer_echo(void)
{
	u8 cbuf[CMSG_SPACE(sizeof(u8))];
	struct msghdr msg = {};
	struct kvec iov;
	char buf[128];
	int i, ret;
	u8 type;

	iov.iov_base = line;
	iov.iov_len = strlen(line);
	ret = kernel_sendmsg(hs_sock, &msg, &iov, 1, iov.iov_len);
	if (ret < 0)
		return ret;

	/* Skip records other than data (TLS 1.3 session tickets come first). */
	for (i = 0; i < 8; i++) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf) - 1;
		ret = kernel_recvmsg(hs_sock, &msg, &iov, 1, iov.iov_len, 0);
		if (ret < 0)
			return ret;
		buf[ret] = '\0';
		/* The socket layer advances msg_control past what it wrote. */
		type = 0;
		if (msg.msg_controllen < sizeof(cbuf))
			type = tls_get_record_type(hs_sock->sk,
						   (struct cmsghdr *)cbuf);
		pr_info("hs_consumer: record type %u\n", type);
		if (type == TLS_RECORD_TYPE_DATA)
			break;
	}
	pr_info("hs_consumer: echo \"%s\"\n", strim(buf));
	return 0;
}

static int __init hs_consumer_init(void)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct tls_handshake_args args = {};
	int ret;

	/* A kernel socket does not hold its namespace: the module does. */
	hs_net = get_net(here ? current->nsproxy->net_ns : &init_net);
	ret = sock_create_kern(hs_net, PF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &hs_sock);
	if (ret)
		goto out_net;
	hs_file = sock_alloc_file(hs_sock, 0, NULL);
	if (IS_ERR(hs_file)) {
		ret = PTR_ERR(hs_file);
		goto out_net;
	}

	ret = kernel_connect(hs_sock, (struct sockaddr_unsized *)&sin,
			     sizeof(sin), 0);
	if (ret) {
		pr_info("hs_consumer: connect failed %d\n", ret);
		goto out_put;
	}

	args.ta_sock = hs_sock;
	args.ta_done = hs_consumer_done;
	args.ta_peername = peername;
	args.ta_timeout_ms = timeout_ms;
	args.ta_keyring = keyring;
	if (atomic) {
		spin_lock_bh(&hs_atomic_lock);
		ret = tls_client_hello_anon(&args, GFP_ATOMIC);
		spin_unlock_bh(&hs_atomic_lock);
	} else {
		ret = tls_client_hello_anon(&args, GFP_KERNEL);
	}
	pr_info("hs_consumer: submit %d\n", ret);
	if (ret)
		goto out_put;
	if (!wait)
		return 0;

	if (!wait_for_completion_timeout(&hs_done, 30 * HZ)) {
		pr_info("hs_consumer: no answer, cancel=%d\n",
			tls_handshake_cancel(hs_sock->sk));
		return 0;
	}
	if (!hs_status) {
		ret = hs_consumer_echo();
		if (ret)
			pr_info("hs_consumer: echo failed %d\n", ret);
	}
	return 0;

out_put:
	fput(hs_file);
out_net:
	put_net(hs_net);
	return ret;
}

static void __exit hs_consumer_exit(void)
{
	pr_info("hs_consumer: exit cancel=%d\n",
		tls_handshake_cancel(hs_sock->sk));
	tls_handshake_close(hs_sock);
	fput(hs_file);
	put_net(hs_net);
}

module_init(hs_consumer_init);
module_exit(hs_consumer_exit);
MODULE_DESCRIPTION("Test consumer of the TLS handshake API");
MODULE_LICENSE("GPL");
