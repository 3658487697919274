// SPDX-License-Identifier: GPL-2.0
/*
 * handshake_e2e - in-kernel TLS consumers for end-to-end tests of the
 * handshake upcall service (net/handshake or handshake.ko).
 *
 * Each run is shaped like a real consumer of <net/handshake.h>:
 *
 *  - client, like SunRPC's TLS transport: a kernel TCP socket with a file,
 *    connect, tls_client_hello_anon/x509 with a peer name and a timeout,
 *    a bounded wait for the done callback and tls_handshake_cancel() when
 *    the wait expires;
 *  - client, like NVMe/TCP: tls_client_hello_psk with PSK keys in a
 *    keyring, checking the peer id handed back;
 *  - server, like the NVMe/TCP target: accept a connection in the kernel
 *    and run tls_server_hello_x509/psk on it.
 *
 * After a successful handshake a run sends and receives data through kTLS,
 * reads record types with tls_get_record_type(), decodes alerts with
 * tls_alert_recv() and ends with tls_handshake_close().
 *
 * Control: write one command line to /proc/handshake_e2e; the write returns
 * when the run is over (it fails only on a malformed command).  Reading the
 * file gives the outcome of the last run as "key=value" lines, followed by
 * the module-wide counters.  Commands are "key=value" words:
 *
 *   mode=client|server auth=anon|x509|psk port=N
 *   peername=NAME timeout=MS (given to the agent) wait=MS (our own wait)
 *   cert=SERIAL privkey=SERIAL peerid=SERIAL (repeatable) keyring=SERIAL
 *   msg=TEXT (client: sent with a newline, expected back) io=MS
 *
 * tlshd uses the "psk" key type (nvme-keyring, which the tests load first)
 * for PSKs and "asymmetric" (built in) for the peer certificates it hands
 * back.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include <linux/slab.h>
#include <linux/net.h>
#include <linux/in.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/delay.h>
#include <linux/completion.h>
#include <net/sock.h>
#include <net/inet_common.h>
#include <net/inet_connection_sock.h>
#include <net/tls.h>
#include <net/tls_prot.h>
#include <net/handshake.h>

#define E2E_LINE_MAX	512
#define E2E_MSG_MAX	256
#define E2E_OUT_MAX	2048
#define E2E_MAX_PEERIDS	5
#define E2E_LOST_DONE_WAIT	(30 * HZ)

enum e2e_auth {
	E2E_AUTH_ANON,
	E2E_AUTH_X509,
	E2E_AUTH_PSK,
};

struct e2e_cmd {
	bool		server;
	enum e2e_auth	auth;
	u16		port;
	char		peername[64];
	unsigned int	timeout_ms;
	unsigned int	wait_ms;
	unsigned int	io_ms;
	key_serial_t	cert;
	key_serial_t	privkey;
	key_serial_t	keyring;
	unsigned int	num_peerids;
	key_serial_t	peerids[E2E_MAX_PEERIDS];
	char		msg[E2E_MSG_MAX];
};

/* One handshake: shared with the done callback. */
struct e2e_run {
	struct completion	done;
	int			status;
	key_serial_t		peerid;
	atomic_t		done_calls;
};

/* Outcome of the last run, protected by e2e_lock (which also serialises runs). */
static DEFINE_MUTEX(e2e_lock);
static char e2e_out[E2E_OUT_MAX];
static size_t e2e_out_len;

/* Module-wide counters. */
static atomic_t e2e_runs = ATOMIC_INIT(0);
static atomic_t e2e_socks_alive = ATOMIC_INIT(0);
static atomic_t e2e_done_total = ATOMIC_INIT(0);

static __printf(1, 2) void e2e_report(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	e2e_out_len += vscnprintf(e2e_out + e2e_out_len,
				  sizeof(e2e_out) - e2e_out_len, fmt, ap);
	va_end(ap);
}

/*
 * Socket lifetime tracking: every socket this module creates or accepts
 * gets a destructor that counts it down.  The handshake service chains the
 * destructor it finds, so a socket the service forgets to release shows up
 * in "sockets_alive".  Each tracked socket holds a module reference, so the
 * module cannot go away while one of them lives.
 */
static void e2e_sk_destruct(struct sock *sk)
{
	inet_sock_destruct(sk);
	atomic_dec(&e2e_socks_alive);
	module_put(THIS_MODULE);
}

static void e2e_track(struct sock *sk)
{
	if (sk->sk_destruct != inet_sock_destruct)
		return;
	__module_get(THIS_MODULE);
	atomic_inc(&e2e_socks_alive);
	sk->sk_destruct = e2e_sk_destruct;
}

static void e2e_done(void *data, int status, key_serial_t peerid)
{
	struct e2e_run *run = data;

	run->status = status;
	run->peerid = peerid;
	atomic_inc(&run->done_calls);
	atomic_inc(&e2e_done_total);
	complete(&run->done);
}

/* Is kTLS in place on this socket, and in which mode for each direction? */
static void e2e_report_ktls(struct sock *sk)
{
	const struct inet_connection_sock *icsk = inet_csk(sk);
	bool tls = false;
	int tx = -1, rx = -1;

	lock_sock(sk);
	if (icsk->icsk_ulp_ops && !strcmp(icsk->icsk_ulp_ops->name, "tls")) {
		struct tls_context *ctx = tls_get_ctx(sk);

		tls = true;
		tx = ctx->tx_conf;
		rx = ctx->rx_conf;
	}
	release_sock(sk);
	e2e_report("ktls=%d\nktls_tx=%s\nktls_rx=%s\n", tls,
		   tx == TLS_SW ? "sw" : tx == TLS_HW ? "hw" : "none",
		   rx == TLS_SW ? "sw" : rx == TLS_HW ? "hw" : "none");
}

/*
 * Receive one record's worth of data with its record type.  Returns the
 * byte count (0 at end of stream) or a negative errno; *type is the TLS
 * record type (0 if the socket gave none).  Alerts are decoded and reported.
 */
static int e2e_recv(struct socket *sock, char *buf, size_t len, u8 *type)
{
	union {
		struct cmsghdr	cmsg;
		u8		space[CMSG_SPACE(sizeof(u8))];
	} ctl;
	struct kvec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_control	= &ctl,
		.msg_controllen	= sizeof(ctl),
	};
	int ret;

	memset(&ctl, 0, sizeof(ctl));
	iov_iter_kvec(&msg.msg_iter, ITER_DEST, &iov, 1, len);
	ret = sock_recvmsg(sock, &msg, 0);
	*type = 0;
	if (ret < 0)
		return ret;
	if (msg.msg_controllen < sizeof(ctl))
		*type = tls_get_record_type(sock->sk, &ctl.cmsg);
	if (*type == TLS_RECORD_TYPE_ALERT && ret >= 2) {
		u8 level, desc;

		/* tls_alert_recv() reads the alert from the message's buffer. */
		iov_iter_kvec(&msg.msg_iter, ITER_DEST, &iov, 1, len);
		tls_alert_recv(sock->sk, &msg, &level, &desc);
		e2e_report("alert_level=%u\nalert_desc=%u\n", level, desc);
	}
	return ret;
}

static int e2e_send(struct socket *sock, const char *buf, size_t len)
{
	struct kvec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { };

	return kernel_sendmsg(sock, &msg, &iov, 1, len);
}

/* Read application data up to and including a newline. */
static int e2e_recv_line(struct socket *sock, char *buf, size_t len)
{
	size_t got = 0;
	u8 type;
	int ret;

	while (got < len && (!got || buf[got - 1] != '\n')) {
		ret = e2e_recv(sock, buf + got, len - got, &type);
		if (type != TLS_RECORD_TYPE_HANDSHAKE)
			e2e_report("record_type=%u\n", type);
		if (ret <= 0)
			return got ? got : ret;
		/* An alert ends the stream; other records are not data. */
		if (type == TLS_RECORD_TYPE_ALERT)
			return got ? got : -EPROTO;
		if (type && type != TLS_RECORD_TYPE_DATA)
			continue;
		got += ret;
	}
	return got;
}

/* After tls_handshake_close(): what the peer answers (alert or EOF). */
static void e2e_drain(struct socket *sock)
{
	char buf[64];
	int i, ret;
	u8 type;

	for (i = 0; i < 16; i++) {
		ret = e2e_recv(sock, buf, sizeof(buf), &type);
		if (ret <= 0) {
			e2e_report("after_close=%s\n", ret ? "error" : "eof");
			return;
		}
		if (type != TLS_RECORD_TYPE_HANDSHAKE)
			e2e_report("after_close_record=%u\n", type);
		if (type == TLS_RECORD_TYPE_ALERT)
			return;
	}
}

/*
 * The file's references once the handshake is over: 1 means only ours is
 * left (the service and the agent dropped theirs).  The agent closes its
 * descriptor on its own time, so give it a moment.
 */
static void e2e_report_file_refs(struct file *file)
{
	long refs;
	int i;

	for (i = 0; i < 40; i++) {
		refs = file_count(file);
		if (refs == 1)
			break;
		msleep(50);
	}
	e2e_report("file_refs=%ld\n", refs);
}

static int e2e_submit(const struct e2e_cmd *cmd, struct socket *sock,
		      struct e2e_run *run)
{
	struct tls_handshake_args args = {
		.ta_sock	= sock,
		.ta_done	= e2e_done,
		.ta_data	= run,
		.ta_timeout_ms	= cmd->timeout_ms,
		.ta_keyring	= cmd->keyring,
	};
	unsigned int i;

	if (cmd->peername[0])
		args.ta_peername = cmd->peername;
	for (i = 0; i < cmd->num_peerids; i++)
		args.ta_my_peerids[i] = cmd->peerids[i];
	args.ta_num_peerids = cmd->num_peerids;

	switch (cmd->auth) {
	case E2E_AUTH_ANON:
		return cmd->server ? -EINVAL : tls_client_hello_anon(&args, GFP_KERNEL);
	case E2E_AUTH_X509:
		args.ta_my_cert = cmd->cert;
		args.ta_my_privkey = cmd->privkey;
		if (cmd->server)
			return tls_server_hello_x509(&args, GFP_KERNEL);
		return tls_client_hello_x509(&args, GFP_KERNEL);
	case E2E_AUTH_PSK:
		if (cmd->server)
			return tls_server_hello_psk(&args, GFP_KERNEL);
		return tls_client_hello_psk(&args, GFP_KERNEL);
	}
	return -EINVAL;
}

/* The data path after a successful handshake, as client or as server. */
static void e2e_exchange(const struct e2e_cmd *cmd, struct socket *sock)
{
	char *buf;
	int ret;

	buf = kzalloc(E2E_MSG_MAX + 2, GFP_KERNEL);
	if (!buf)
		return;
	if (!cmd->server) {
		size_t len = strlen(cmd->msg);

		memcpy(buf, cmd->msg, len);
		buf[len++] = '\n';
		ret = e2e_send(sock, buf, len);
		e2e_report("sent=%d\n", ret);
		memset(buf, 0, E2E_MSG_MAX + 2);
		ret = e2e_recv_line(sock, buf, E2E_MSG_MAX);
		e2e_report("received=%d\n", ret);
		e2e_report("echo_match=%d\n", ret == len &&
			   !memcmp(buf, cmd->msg, len - 1));
	} else {
		ret = e2e_recv_line(sock, buf, E2E_MSG_MAX);
		e2e_report("received=%d\n", ret);
		if (ret > 0) {
			e2e_report("message=%.*s\n", (int)strcspn(buf, "\r\n"), buf);
			ret = e2e_send(sock, buf, ret);
			e2e_report("sent=%d\n", ret);
		}
	}
	kfree(buf);
}

/*
 * Submit, wait, cancel on expiry: the consumer side of the handshake
 * protocol.  Returns true when the done callback reported success.
 */
static bool e2e_handshake(const struct e2e_cmd *cmd, struct socket *sock)
{
	struct e2e_run *run;
	long left;
	bool ok = false;
	int ret;

	run = kzalloc_obj(*run);
	if (!run) {
		e2e_report("submit=%d\n", -ENOMEM);
		return false;
	}
	init_completion(&run->done);
	run->status = 1;

	ret = e2e_submit(cmd, sock, run);
	e2e_report("submit=%d\n", ret);
	if (ret) {
		kfree(run);
		return false;
	}

	left = wait_for_completion_interruptible_timeout(&run->done,
							 msecs_to_jiffies(cmd->wait_ms));
	if (left <= 0) {
		bool cancelled = tls_handshake_cancel(sock->sk);

		e2e_report("timed_out=1\ncancel=%d\n", cancelled);
		/*
		 * Cancel lost the race: the callback owns the run until it
		 * ends.  A service that never calls back would hang the test,
		 * so give up after a while and leave the run to the callback.
		 */
		if (!cancelled &&
		    !wait_for_completion_timeout(&run->done, E2E_LOST_DONE_WAIT)) {
			e2e_report("done_missing=1\n");
			return false;
		}
		/* A second cancel must be a harmless no-op (SunRPC does this). */
		e2e_report("cancel_again=%d\n", tls_handshake_cancel(sock->sk));
	}
	if (atomic_read(&run->done_calls)) {
		e2e_report("status=%d\npeerid=%d\n", run->status, run->peerid);
		ok = run->status == 0;
	}
	e2e_report("done_calls=%d\n", atomic_read(&run->done_calls));
	kfree(run);
	return ok;
}

/* Socket timeouts so no kernel I/O can hang a test. */
static void e2e_set_timeouts(struct sock *sk, unsigned int ms)
{
	WRITE_ONCE(sk->sk_rcvtimeo, msecs_to_jiffies(ms));
	WRITE_ONCE(sk->sk_sndtimeo, msecs_to_jiffies(ms));
}

static void e2e_session(const struct e2e_cmd *cmd, struct socket *sock,
			struct file *file)
{
	e2e_set_timeouts(sock->sk, cmd->io_ms);
	if (e2e_handshake(cmd, sock)) {
		e2e_report_ktls(sock->sk);
		e2e_exchange(cmd, sock);
		tls_handshake_close(sock);
		e2e_drain(sock);
	} else {
		e2e_report_ktls(sock->sk);
	}
	e2e_report_file_refs(file);
}

static void e2e_client(const struct e2e_cmd *cmd)
{
	struct sockaddr_in sin = {
		.sin_family		= AF_INET,
		.sin_port		= htons(cmd->port),
		.sin_addr.s_addr	= htonl(INADDR_LOOPBACK),
	};
	struct socket *sock;
	struct file *file;
	int ret;

	ret = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &sock);
	if (ret) {
		e2e_report("socket=%d\n", ret);
		return;
	}
	e2e_track(sock->sk);
	/* Like SunRPC: the socket needs a file the agent can be given. */
	file = sock_alloc_file(sock, O_NONBLOCK, NULL);
	if (IS_ERR(file)) {
		/* sock_alloc_file() released the socket. */
		e2e_report("socket=%ld\n", PTR_ERR(file));
		return;
	}
	e2e_set_timeouts(sock->sk, cmd->io_ms);
	ret = kernel_connect(sock, (struct sockaddr_unsized *)&sin, sizeof(sin), 0);
	e2e_report("connect=%d\n", ret);
	if (!ret)
		e2e_session(cmd, sock, file);
	fput(file);
}

static void e2e_server(const struct e2e_cmd *cmd)
{
	struct sockaddr_in sin = {
		.sin_family		= AF_INET,
		.sin_port		= htons(cmd->port),
		.sin_addr.s_addr	= htonl(INADDR_LOOPBACK),
	};
	struct socket *lsock, *sock;
	struct file *file;
	int ret;

	ret = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &lsock);
	if (ret) {
		e2e_report("socket=%d\n", ret);
		return;
	}
	/*
	 * The listener is not tracked: it is released here, and the sockets
	 * it spawns must start with the plain destructor.
	 */
	sock_set_reuseaddr(lsock->sk);
	ret = kernel_bind(lsock, (struct sockaddr_unsized *)&sin, sizeof(sin));
	if (!ret)
		ret = kernel_listen(lsock, 4);
	e2e_report("listen=%d\n", ret);
	if (ret)
		goto out_listener;
	/* The accept waits at most "wait" for the peer to connect. */
	e2e_set_timeouts(lsock->sk, cmd->wait_ms);
	ret = kernel_accept(lsock, &sock, 0);
	e2e_report("accept=%d\n", ret);
	if (ret)
		goto out_listener;
	sock_release(lsock);
	lsock = NULL;

	e2e_track(sock->sk);
	/* Like the NVMe/TCP target. */
	file = sock_alloc_file(sock, O_CLOEXEC, NULL);
	if (IS_ERR(file)) {
		e2e_report("socket=%ld\n", PTR_ERR(file));
		return;
	}
	e2e_session(cmd, sock, file);
	fput(file);
	return;

out_listener:
	sock_release(lsock);
}

static int e2e_parse_serial(const char *s, key_serial_t *out)
{
	return kstrtos32(s, 0, out);
}

static int e2e_parse(char *line, struct e2e_cmd *cmd)
{
	char *word, *val;
	int ret = 0;

	memset(cmd, 0, sizeof(*cmd));
	cmd->timeout_ms = 5000;
	cmd->wait_ms = 10000;
	cmd->io_ms = 5000;
	strscpy(cmd->msg, "hello from the kernel");

	while ((word = strsep(&line, " \t\n")) != NULL) {
		if (!*word)
			continue;
		val = strchr(word, '=');
		if (!val)
			return -EINVAL;
		*val++ = '\0';
		if (!strcmp(word, "mode")) {
			if (!strcmp(val, "server"))
				cmd->server = true;
			else if (strcmp(val, "client"))
				return -EINVAL;
		} else if (!strcmp(word, "auth")) {
			if (!strcmp(val, "anon"))
				cmd->auth = E2E_AUTH_ANON;
			else if (!strcmp(val, "x509"))
				cmd->auth = E2E_AUTH_X509;
			else if (!strcmp(val, "psk"))
				cmd->auth = E2E_AUTH_PSK;
			else
				return -EINVAL;
		} else if (!strcmp(word, "port")) {
			ret = kstrtou16(val, 0, &cmd->port);
		} else if (!strcmp(word, "peername")) {
			if (strscpy(cmd->peername, val) < 0)
				return -EINVAL;
		} else if (!strcmp(word, "timeout")) {
			ret = kstrtouint(val, 0, &cmd->timeout_ms);
		} else if (!strcmp(word, "wait")) {
			ret = kstrtouint(val, 0, &cmd->wait_ms);
		} else if (!strcmp(word, "io")) {
			ret = kstrtouint(val, 0, &cmd->io_ms);
		} else if (!strcmp(word, "cert")) {
			ret = e2e_parse_serial(val, &cmd->cert);
		} else if (!strcmp(word, "privkey")) {
			ret = e2e_parse_serial(val, &cmd->privkey);
		} else if (!strcmp(word, "keyring")) {
			ret = e2e_parse_serial(val, &cmd->keyring);
		} else if (!strcmp(word, "peerid")) {
			if (cmd->num_peerids == E2E_MAX_PEERIDS)
				return -EINVAL;
			ret = e2e_parse_serial(val,
					       &cmd->peerids[cmd->num_peerids++]);
		} else if (!strcmp(word, "msg")) {
			if (strscpy(cmd->msg, val) < 0)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
		if (ret)
			return ret;
	}
	if (!cmd->port || !cmd->wait_ms || !cmd->io_ms)
		return -EINVAL;
	return 0;
}

static ssize_t e2e_write(struct file *file, const char __user *ubuf,
			 size_t count, loff_t *ppos)
{
	struct e2e_cmd *cmd;
	char *line;
	int ret;

	if (count >= E2E_LINE_MAX)
		return -EINVAL;
	line = memdup_user_nul(ubuf, count);
	if (IS_ERR(line))
		return PTR_ERR(line);
	cmd = kmalloc_obj(*cmd);
	if (!cmd) {
		kfree(line);
		return -ENOMEM;
	}
	ret = e2e_parse(line, cmd);
	kfree(line);
	if (ret)
		goto out;

	mutex_lock(&e2e_lock);
	e2e_out_len = 0;
	e2e_out[0] = '\0';
	atomic_inc(&e2e_runs);
	e2e_report("mode=%s\n", cmd->server ? "server" : "client");
	if (cmd->server)
		e2e_server(cmd);
	else
		e2e_client(cmd);
	mutex_unlock(&e2e_lock);
	ret = count;
out:
	kfree(cmd);
	return ret;
}

static int e2e_show(struct seq_file *m, void *v)
{
	mutex_lock(&e2e_lock);
	seq_write(m, e2e_out, e2e_out_len);
	mutex_unlock(&e2e_lock);
	seq_printf(m, "runs=%d\nsockets_alive=%d\ndone_total=%d\n",
		   atomic_read(&e2e_runs), atomic_read(&e2e_socks_alive),
		   atomic_read(&e2e_done_total));
	return 0;
}

static int e2e_open(struct inode *inode, struct file *file)
{
	return single_open(file, e2e_show, NULL);
}

static const struct proc_ops e2e_proc_ops = {
	.proc_open	= e2e_open,
	.proc_read	= seq_read,
	.proc_lseek	= seq_lseek,
	.proc_release	= single_release,
	.proc_write	= e2e_write,
};

static int __init e2e_init(void)
{
	if (!proc_create("handshake_e2e", 0600, NULL, &e2e_proc_ops))
		return -ENOMEM;
	pr_info("ready\n");
	return 0;
}

static void __exit e2e_exit(void)
{
	remove_proc_entry("handshake_e2e", NULL);
}

module_init(e2e_init);
module_exit(e2e_exit);

MODULE_DESCRIPTION("In-kernel TLS consumers for end-to-end tests of the handshake service");
MODULE_LICENSE("GPL");
