// SPDX-License-Identifier: GPL-2.0
/*
 * hs_bench - a kernel consumer of <net/handshake.h> that measures the
 * handshake service for "make bench". It is built unchanged against the
 * kernel with handshake.ko and against the kernel with the C service.
 *
 * Two ways to load the service:
 *
 *  - closed loop: kernel threads, each making COUNT handshakes one after
 *    the other: a TCP socket with a file (as SunRPC makes it), optionally
 *    connected to 127.0.0.1:PORT, tls_client_hello_anon() or _x509(), a
 *    wait for ta_done, and the socket closed;
 *  - backlog: sockets made in advance and submitted all at once, so that
 *    many requests are pending together, then drained by agents.
 *
 * Control: one command per write to /proc/hs_bench.
 *
 *   add THREADS COUNT [anon|x509 PORT PEERNAME]
 *        prepare THREADS threads in the writer's network namespace; without
 *        a port the sockets are not connected (for null agents)
 *   hold N
 *        make N sockets in the writer's network namespace
 *   go   submit every held socket, then start the prepared threads
 *   wait block until every thread has ended and every submitted held
 *        request has had its ta_done (or was cancelled after 30 s)
 *   reset
 *        forget everything (only after wait)
 *
 * Reading gives the figures of the last run as one JSON object: requests
 * done and failed, submit errors by errno, the time from "go" to the first
 * and the last ta_done, and the latency from submit to ta_done (mean,
 * median, 99th percentile) in nanoseconds.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/file.h>
#include <linux/in.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <net/handshake.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#define HB_MAX_THREADS	1024
#define HB_MAX_HELD	100000
#define HB_MAX_ERRNO	256
#define HB_WAIT_MS	30000

enum hb_auth { HB_NONE, HB_ANON, HB_X509 };

/* One handshake: the consumer's state while it is in flight. */
struct hb_req {
	struct socket *sock;
	struct file *file;
	struct completion done;
	u64 t_submit;
	u64 t_done;
	int status;
};

struct hb_thread {
	struct task_struct *task;
	struct net *net;
	unsigned int count;
	enum hb_auth auth;
	u16 port;
	char peername[64];
	u64 *lat;		/* this thread's slots in hb_lat */
};

static DEFINE_MUTEX(hb_lock);		/* serialises the commands */
static struct hb_thread *hb_threads;
static unsigned int hb_nthreads;
static struct hb_req *hb_held;
static unsigned int hb_nheld, hb_nsubmitted;
static u64 *hb_lat;			/* latencies, threads' then held */
static unsigned int hb_nlat;
static bool hb_started, hb_waited;

static atomic_t hb_running;
static DECLARE_WAIT_QUEUE_HEAD(hb_wq);
static u64 hb_t_go;
static atomic64_t hb_first_done, hb_last_done;
static atomic_t hb_ok, hb_failed;
static atomic_t hb_submit_err[HB_MAX_ERRNO + 1];

static void hb_note_done(u64 t)
{
	u64 old = atomic64_read(&hb_last_done);

	while (old < t && !atomic64_try_cmpxchg(&hb_last_done, &old, t))
		;
	old = atomic64_read(&hb_first_done);
	while ((!old || t < old) &&
	       !atomic64_try_cmpxchg(&hb_first_done, &old, t))
		;
}

static void hb_done(void *data, int status, key_serial_t peerid)
{
	struct hb_req *req = data;

	req->t_done = ktime_get_ns();
	req->status = status;
	complete(&req->done);
}

static int hb_socket(struct net *net, struct hb_req *req)
{
	int ret;

	ret = sock_create_kern(net, AF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &req->sock);
	if (ret)
		return ret;
	req->file = sock_alloc_file(req->sock, O_NONBLOCK, NULL);
	if (IS_ERR(req->file)) {
		/* sock_alloc_file() released the socket. */
		ret = PTR_ERR(req->file);
		req->file = NULL;
		return ret;
	}
	init_completion(&req->done);
	return 0;
}

static int hb_submit(struct hb_req *req, enum hb_auth auth,
		     const char *peername)
{
	struct tls_handshake_args args = {
		.ta_sock	= req->sock,
		.ta_done	= hb_done,
		.ta_data	= req,
	};

	if (peername && peername[0]) {
		args.ta_peername = peername;
		args.ta_timeout_ms = HB_WAIT_MS / 2;
	}
	req->t_submit = ktime_get_ns();
	if (auth == HB_X509)
		return tls_client_hello_x509(&args, GFP_KERNEL);
	return tls_client_hello_anon(&args, GFP_KERNEL);
}

static void hb_count_submit_error(int ret)
{
	atomic_inc(&hb_submit_err[min(-ret, HB_MAX_ERRNO)]);
}

/*
 * Wait for the request's ta_done; after HB_WAIT_MS cancel it, and if the
 * cancel loses, ta_done is on its way. Returns the latency, 0 if cancelled.
 */
static u64 hb_wait(struct hb_req *req)
{
	if (!wait_for_completion_timeout(&req->done,
					 msecs_to_jiffies(HB_WAIT_MS))) {
		if (tls_handshake_cancel(req->sock->sk)) {
			atomic_inc(&hb_failed);
			return 0;
		}
		wait_for_completion(&req->done);
	}
	hb_note_done(req->t_done);
	if (req->status)
		atomic_inc(&hb_failed);
	else
		atomic_inc(&hb_ok);
	return max(req->t_done - req->t_submit, 1ULL);
}

static int hb_connect(struct socket *sock, u16 port)
{
	struct sockaddr_in sin = {
		.sin_family		= AF_INET,
		.sin_port		= htons(port),
		.sin_addr.s_addr	= htonl(INADDR_LOOPBACK),
	};

	return kernel_connect(sock, (struct sockaddr_unsized *)&sin,
			      sizeof(sin), 0);
}

static int hb_thread_fn(void *data)
{
	struct hb_thread *t = data;
	struct hb_req req;
	unsigned int i;
	int ret;

	for (i = 0; i < t->count; i++) {
		memset(&req, 0, sizeof(req));
		ret = hb_socket(t->net, &req);
		if (!ret && t->port)
			ret = hb_connect(req.sock, t->port);
		if (!ret)
			ret = hb_submit(&req, t->auth, t->peername);
		if (ret)
			hb_count_submit_error(ret);
		else
			t->lat[i] = hb_wait(&req);
		if (req.file)
			fput(req.file);
	}
	if (atomic_dec_and_test(&hb_running))
		wake_up_all(&hb_wq);
	return 0;
}

static u64 *hb_alloc_lat(unsigned int n)
{
	return kvcalloc(n, sizeof(u64), GFP_KERNEL);
}

static int hb_add(unsigned int nthreads, unsigned int count, enum hb_auth auth,
		  u16 port, const char *peername)
{
	struct net *net = current->nsproxy->net_ns;
	unsigned int i;
	int ret;

	if (!nthreads || !count || hb_nthreads + nthreads > HB_MAX_THREADS)
		return -EINVAL;
	if (!hb_threads) {
		hb_threads = kcalloc(HB_MAX_THREADS, sizeof(*hb_threads),
				     GFP_KERNEL);
		if (!hb_threads)
			return -ENOMEM;
	}
	for (i = 0; i < nthreads; i++) {
		struct hb_thread *t = &hb_threads[hb_nthreads];

		t->net = get_net(net);
		t->count = count;
		t->auth = auth;
		t->port = port;
		strscpy(t->peername, peername ?: "");
		t->task = kthread_create(hb_thread_fn, t, "hs_bench/%u",
					 hb_nthreads);
		if (IS_ERR(t->task)) {
			ret = PTR_ERR(t->task);
			put_net(t->net);
			t->task = NULL;
			return ret;
		}
		get_task_struct(t->task);
		hb_nthreads++;
	}
	return 0;
}

static int hb_hold(unsigned int n)
{
	struct net *net = current->nsproxy->net_ns;
	struct hb_req *held;
	unsigned int i;
	int ret;

	if (!n || hb_nheld + n > HB_MAX_HELD || hb_started)
		return -EINVAL;
	held = kvcalloc(hb_nheld + n, sizeof(*held), GFP_KERNEL);
	if (!held)
		return -ENOMEM;
	if (hb_held)
		memcpy(held, hb_held, hb_nheld * sizeof(*held));
	/* The completions of the old entries are not in use before "go". */
	for (i = 0; i < hb_nheld; i++)
		init_completion(&held[i].done);
	kvfree(hb_held);
	hb_held = held;
	for (i = 0; i < n; i++) {
		ret = hb_socket(net, &hb_held[hb_nheld]);
		if (ret)
			return ret;
		hb_nheld++;
	}
	return 0;
}

static int hb_go(void)
{
	unsigned int i, slot, total = hb_nheld;
	int ret;

	if (hb_started)
		return -EBUSY;
	for (i = 0; i < hb_nthreads; i++)
		total += hb_threads[i].count;
	if (!total)
		return -EINVAL;
	hb_lat = hb_alloc_lat(total);
	if (!hb_lat)
		return -ENOMEM;
	hb_nlat = total;
	hb_started = true;
	hb_t_go = ktime_get_ns();
	atomic64_set(&hb_first_done, 0);
	atomic64_set(&hb_last_done, 0);
	hb_nsubmitted = 0;
	for (i = 0; i < hb_nheld; i++) {
		ret = hb_submit(&hb_held[i], HB_ANON, NULL);
		if (ret) {
			hb_count_submit_error(ret);
			fput(hb_held[i].file);
			hb_held[i].file = NULL;
			continue;
		}
		hb_nsubmitted++;
	}
	slot = hb_nheld;
	atomic_set(&hb_running, hb_nthreads + 1);
	for (i = 0; i < hb_nthreads; i++) {
		hb_threads[i].lat = hb_lat + slot;
		slot += hb_threads[i].count;
		wake_up_process(hb_threads[i].task);
	}
	if (atomic_dec_and_test(&hb_running))
		wake_up_all(&hb_wq);
	return 0;
}

static int hb_wait_all(void)
{
	unsigned int i;
	int ret;

	if (!hb_started)
		return -EINVAL;
	ret = wait_event_killable(hb_wq, !atomic_read(&hb_running));
	if (ret)
		return ret;
	for (i = 0; i < hb_nheld; i++) {
		if (!hb_held[i].file)
			continue;
		hb_lat[i] = hb_wait(&hb_held[i]);
		fput(hb_held[i].file);
		hb_held[i].file = NULL;
	}
	hb_waited = true;
	return 0;
}

static void hb_reset(void)
{
	unsigned int i;

	for (i = 0; i < hb_nthreads; i++) {
		struct hb_thread *t = &hb_threads[i];

		/* A thread never woken is stopped before it runs. */
		if (!hb_started)
			kthread_stop(t->task);
		put_task_struct(t->task);
		put_net(t->net);
	}
	hb_nthreads = 0;
	for (i = 0; i < hb_nheld; i++)
		if (hb_held[i].file)
			fput(hb_held[i].file);
	kvfree(hb_held);
	hb_held = NULL;
	hb_nheld = 0;
	hb_nsubmitted = 0;
	kvfree(hb_lat);
	hb_lat = NULL;
	hb_nlat = 0;
	hb_started = false;
	hb_waited = false;
	atomic_set(&hb_ok, 0);
	atomic_set(&hb_failed, 0);
	for (i = 0; i <= HB_MAX_ERRNO; i++)
		atomic_set(&hb_submit_err[i], 0);
}

static int hb_cmp(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static int hb_show(struct seq_file *m, void *v)
{
	u64 *lat, sum = 0, first, last;
	unsigned int i, n = 0;
	const char *sep = "";

	mutex_lock(&hb_lock);
	lat = hb_nlat ? hb_alloc_lat(hb_nlat) : NULL;
	for (i = 0; lat && i < hb_nlat; i++) {
		if (!hb_lat[i])
			continue;
		lat[n++] = hb_lat[i];
		sum += hb_lat[i];
	}
	if (n)
		sort(lat, n, sizeof(*lat), hb_cmp, NULL);
	first = atomic64_read(&hb_first_done);
	last = atomic64_read(&hb_last_done);
	seq_printf(m, "{\"threads\":%u,\"held\":%u,\"submitted_held\":%u,",
		   hb_nthreads, hb_nheld, hb_nsubmitted);
	seq_printf(m, "\"ok\":%d,\"failed\":%d,\"submit_errors\":{",
		   atomic_read(&hb_ok), atomic_read(&hb_failed));
	for (i = 1; i <= HB_MAX_ERRNO; i++) {
		int c = atomic_read(&hb_submit_err[i]);

		if (c) {
			seq_printf(m, "%s\"%u\":%d", sep, i, c);
			sep = ",";
		}
	}
	seq_printf(m, "},\"first_done_ns\":%llu,\"last_done_ns\":%llu,",
		   first ? first - hb_t_go : 0, last ? last - hb_t_go : 0);
	seq_printf(m, "\"latencies\":%u,\"mean_ns\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu}\n",
		   n, n ? div_u64(sum, n) : 0, n ? lat[(n - 1) / 2] : 0,
		   n ? lat[(n * 99 + 99) / 100 - 1] : 0);
	kvfree(lat);
	mutex_unlock(&hb_lock);
	return 0;
}

static int hb_open(struct inode *inode, struct file *file)
{
	return single_open(file, hb_show, NULL);
}

static enum hb_auth hb_parse_auth(const char *s)
{
	if (!strcmp(s, "anon"))
		return HB_ANON;
	if (!strcmp(s, "x509"))
		return HB_X509;
	return HB_NONE;
}

static ssize_t hb_write(struct file *file, const char __user *ubuf,
			size_t len, loff_t *ppos)
{
	char buf[128], word[8] = "", peer[64] = "";
	unsigned int a, b;
	u16 port = 0;
	int ret, n;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';

	mutex_lock(&hb_lock);
	if (sscanf(buf, "add %u %u %7s %hu %63s", &a, &b, word, &port, peer) >= 2) {
		enum hb_auth auth = word[0] ? hb_parse_auth(word) : HB_ANON;

		ret = auth == HB_NONE || (word[0] && !port) ? -EINVAL :
		      hb_add(a, b, auth, port, peer);
	} else if (sscanf(buf, "hold %u", &a) == 1) {
		ret = hb_hold(a);
	} else if (!strncmp(buf, "go", 2)) {
		ret = hb_go();
	} else if (!strncmp(buf, "wait", 4)) {
		/* The threads run without the lock; "wait" holds it. */
		ret = hb_wait_all();
	} else if (!strncmp(buf, "reset", 5)) {
		/* Requests in flight point into what reset frees. */
		ret = hb_started && !hb_waited ? -EBUSY : 0;
		if (!ret)
			hb_reset();
	} else {
		ret = -EINVAL;
	}
	mutex_unlock(&hb_lock);
	n = ret ? ret : len;
	return n;
}

static const struct proc_ops hb_proc_ops = {
	.proc_open	= hb_open,
	.proc_read	= seq_read,
	.proc_lseek	= seq_lseek,
	.proc_release	= single_release,
	.proc_write	= hb_write,
};

static int __init hb_init(void)
{
	if (!proc_create("hs_bench", 0600, NULL, &hb_proc_ops))
		return -ENOMEM;
	return 0;
}

static void __exit hb_exit(void)
{
	remove_proc_entry("hs_bench", NULL);
	mutex_lock(&hb_lock);
	if (hb_started && !hb_waited) {
		wait_event(hb_wq, !atomic_read(&hb_running));
		hb_wait_all();
	}
	hb_reset();
	kfree(hb_threads);
	mutex_unlock(&hb_lock);
}

module_init(hb_init);
module_exit(hb_exit);
MODULE_DESCRIPTION("Benchmark consumer of the TLS handshake API");
MODULE_LICENSE("GPL");
