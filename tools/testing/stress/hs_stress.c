// SPDX-License-Identifier: GPL-2.0
/*
 * A consumer of the TLS handshake API that submits many requests at once
 * and ends each of them in a different way, for the stress tier.
 *
 * Writing "start THREADS SECONDS INFLIGHT" to /proc/hs_stress starts THREADS
 * kernel threads. Until SECONDS have passed (or "stop" is written), each
 * thread makes INFLIGHT kernel TCP sockets, submits an anonymous client
 * hello on each (with GFP_KERNEL, GFP_NOFS, or GFP_ATOMIC under a spinlock
 * with bottom halves off, at random) and then ends each request in one of
 * four ways, at random:
 *
 *   wait    wait up to "patience" ms for ta_done, then cancel;
 *   cancel  cancel from the thread after a random delay of up to 2 ms;
 *   timer   cancel from a timer (softirq) after 0 to 2 jiffies;
 *   close   cancel and close the socket at once, as a consumer tearing
 *           down its transport does (a ta_done still on its way then
 *           finds the socket held only by the request).
 *
 * "hold N" submits N more requests from the writer that no thread ends: they
 * wait for an agent's DONE, and "check" cancels those still open.
 *
 * A cancel that returns false means ta_done has run or is running: the
 * thread then waits for it. Every request is kept until "check" is written,
 * which verifies that each ended exactly once: one ta_done, or a cancel that
 * returned true, never both, never neither; and that no request whose
 * submit failed ever heard. Reading the file prints the counters.
 */

#include <linux/delay.h>
#include <linux/file.h>
#include <linux/in.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/proc_fs.h>
#include <linux/random.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include <linux/uaccess.h>
#include <net/handshake.h>
#include <net/inet_common.h>
#include <net/net_namespace.h>
#include <net/sock.h>

static unsigned int patience = 300;
module_param(patience, uint, 0444);
MODULE_PARM_DESC(patience, "ms a waiting request waits for ta_done before it cancels");

#define HS_MAX_THREADS 16

enum hs_ending { HS_WAIT, HS_CANCEL, HS_TIMER, HS_CLOSE, HS_ENDINGS };
static const char * const hs_ending_names[HS_ENDINGS] = {
	"wait", "cancel", "timer", "close",
};

struct hs_req {
	struct list_head node;
	struct socket *sock;
	struct file *file;
	struct timer_list timer;
	struct completion done;
	struct completion timer_fired;
	atomic_t done_calls;
	int status;
	bool cancel_won;
	bool heard;		/* the thread saw complete() finish */
	bool timer_won;
	bool held;		/* from "hold": ended only by ta_done or check */
	enum hs_ending ending;
};

static DEFINE_SPINLOCK(hs_atomic_lock);
static DEFINE_MUTEX(hs_lock);		/* serialises start, check and exit */
static DEFINE_SPINLOCK(hs_list_lock);
static LIST_HEAD(hs_reqs);
static LIST_HEAD(hs_refused);		/* requests whose submit failed */
static struct task_struct *hs_threads[HS_MAX_THREADS];
static unsigned int hs_nthreads;
static atomic_t hs_running = ATOMIC_INIT(0);
static unsigned long hs_deadline;
static unsigned int hs_inflight;
static unsigned long hs_started, hs_ended;

/* Counters; read while the threads run, so only atomics. */
static atomic_t hs_socks_alive = ATOMIC_INIT(0);
static atomic_t hs_submitted, hs_cancel_won, hs_cancel_lost, hs_lost;
static atomic_t hs_endings[HS_ENDINGS];
static atomic_t hs_gfp[3];
static atomic_t hs_submit_eagain, hs_submit_esrch, hs_submit_other;
static atomic_t hs_done_ok, hs_done_eio, hs_done_eacces, hs_done_other;
static atomic_t hs_done_total;
static atomic_t hs_held;

/* Filled in by "check". */
static int hs_checked, hs_bad_twice, hs_bad_both, hs_bad_neither;
static int hs_bad_refused;

static void hs_sk_destruct(struct sock *sk)
{
	inet_sock_destruct(sk);
	atomic_dec(&hs_socks_alive);
	module_put(THIS_MODULE);
}

static void hs_done(void *data, int status, key_serial_t peerid)
{
	struct hs_req *req = data;

	req->status = status;
	atomic_inc(&req->done_calls);
	atomic_inc(&hs_done_total);
	switch (status) {
	case 0:
		atomic_inc(&hs_done_ok);
		break;
	case -EIO:
		atomic_inc(&hs_done_eio);
		break;
	case -EACCES:
		atomic_inc(&hs_done_eacces);
		break;
	default:
		atomic_inc(&hs_done_other);
	}
	complete(&req->done);
}

static void hs_cancel_from_timer(struct timer_list *t)
{
	struct hs_req *req = timer_container_of(req, t, timer);

	req->timer_won = tls_handshake_cancel(req->sock->sk);
	complete(&req->timer_fired);
}

/* A new socket with a request submitted on it, or NULL. */
static struct hs_req *hs_submit(void)
{
	struct tls_handshake_args args = {};
	struct hs_req *req;
	int ret, how;

	req = kzalloc_obj(*req, GFP_KERNEL);
	if (!req)
		return NULL;
	init_completion(&req->done);
	init_completion(&req->timer_fired);
	if (sock_create_kern(&init_net, PF_INET, SOCK_STREAM, IPPROTO_TCP,
			     &req->sock))
		goto out_free;
	req->file = sock_alloc_file(req->sock, 0, NULL);
	if (IS_ERR(req->file))
		goto out_free;	/* the socket went with it */
	/* Each socket holds the module; none once it is going away. */
	if (!try_module_get(THIS_MODULE)) {
		fput(req->file);
		goto out_free;
	}
	atomic_inc(&hs_socks_alive);
	req->sock->sk->sk_destruct = hs_sk_destruct;

	args.ta_sock = req->sock;
	args.ta_done = hs_done;
	args.ta_data = req;
	args.ta_peername = "localhost";
	args.ta_timeout_ms = 5000;
	how = get_random_u32_below(3);
	atomic_inc(&hs_gfp[how]);
	if (how == 2) {
		spin_lock_bh(&hs_atomic_lock);
		ret = tls_client_hello_anon(&args, GFP_ATOMIC);
		spin_unlock_bh(&hs_atomic_lock);
	} else {
		ret = tls_client_hello_anon(&args, how ? GFP_NOFS : GFP_KERNEL);
	}
	if (ret) {
		if (ret == -EAGAIN)
			atomic_inc(&hs_submit_eagain);
		else if (ret == -ESRCH)
			atomic_inc(&hs_submit_esrch);
		else
			atomic_inc(&hs_submit_other);
		fput(req->file);
		req->file = NULL;
		/* Kept: a ta_done for it would be a bug the check counts. */
		spin_lock(&hs_list_lock);
		list_add_tail(&req->node, &hs_refused);
		spin_unlock(&hs_list_lock);
		return NULL;
	}
	atomic_inc(&hs_submitted);
	spin_lock(&hs_list_lock);
	list_add_tail(&req->node, &hs_reqs);
	spin_unlock(&hs_list_lock);
	return req;

out_free:
	kfree(req);
	return NULL;
}

/*
 * A cancel that lost: ta_done has run or is running, and must finish. A
 * request that never hears is counted lost (and fails the check).
 */
static void hs_settle(struct hs_req *req, bool won)
{
	if (won) {
		req->cancel_won = true;
		atomic_inc(&hs_cancel_won);
		return;
	}
	atomic_inc(&hs_cancel_lost);
	if (wait_for_completion_timeout(&req->done, 10 * HZ))
		req->heard = true;
	else
		atomic_inc(&hs_lost);
}

static void hs_end(struct hs_req *req)
{
	struct sock *sk = req->sock->sk;
	bool won;

	req->ending = get_random_u32_below(HS_ENDINGS);
	atomic_inc(&hs_endings[req->ending]);
	switch (req->ending) {
	case HS_WAIT:
		if (wait_for_completion_timeout(&req->done,
						msecs_to_jiffies(patience))) {
			req->heard = true;
			break;
		}
		hs_settle(req, tls_handshake_cancel(sk));
		break;
	case HS_CANCEL:
		fsleep(get_random_u32_below(2000));
		hs_settle(req, tls_handshake_cancel(sk));
		break;
	case HS_TIMER:
		timer_setup(&req->timer, hs_cancel_from_timer, 0);
		mod_timer(&req->timer, jiffies + get_random_u32_below(3));
		wait_for_completion(&req->timer_fired);
		timer_shutdown_sync(&req->timer);
		hs_settle(req, req->timer_won);
		break;
	case HS_CLOSE:
		/* Closed before a late ta_done: the request holds the socket. */
		won = tls_handshake_cancel(sk);
		fput(req->file);
		req->file = NULL;
		hs_settle(req, won);
		return;
	case HS_ENDINGS:
		break;
	}
	fput(req->file);
	req->file = NULL;
}

static int hs_thread(void *unused)
{
	struct hs_req **batch;
	unsigned int i, n;

	batch = kcalloc(hs_inflight, sizeof(*batch), GFP_KERNEL);
	if (!batch)
		goto out;
	while (!kthread_should_stop() && time_before(jiffies, READ_ONCE(hs_deadline))) {
		for (n = 0, i = 0; i < hs_inflight; i++) {
			batch[n] = hs_submit();
			if (batch[n])
				n++;
		}
		if (!n)
			msleep(20);	/* no agent listens, or the queue is full */
		for (i = 0; i < n; i++)
			hs_end(batch[i]);
		cond_resched();
	}
	kfree(batch);
out:
	hs_ended = jiffies;	/* the last thread's time stays */
	smp_mb__before_atomic();
	atomic_dec(&hs_running);
	/* kthread_stop() may still come: wait for it. */
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ / 10);
	return 0;
}

static void hs_stop_threads(void)
{
	unsigned int i;

	/* A thread stopped before it ran never counts itself out. */
	for (i = 0; i < hs_nthreads; i++)
		if (kthread_stop(hs_threads[i]) == -EINTR)
			atomic_dec(&hs_running);
	hs_nthreads = 0;
}

static int hs_start(unsigned int threads, unsigned int seconds,
		    unsigned int inflight)
{
	struct task_struct *t;

	if (!threads || threads > HS_MAX_THREADS || !inflight || inflight > 256 ||
	    seconds > 3600)
		return -EINVAL;
	if (hs_nthreads)
		return -EBUSY;
	hs_inflight = inflight;
	hs_started = jiffies;
	hs_deadline = jiffies + seconds * HZ;
	atomic_set(&hs_running, threads);
	for (hs_nthreads = 0; hs_nthreads < threads; hs_nthreads++) {
		t = kthread_run(hs_thread, NULL, "hs_stress/%u", hs_nthreads);
		if (IS_ERR(t)) {
			atomic_sub(threads - hs_nthreads, &hs_running);
			hs_stop_threads();
			return PTR_ERR(t);
		}
		hs_threads[hs_nthreads] = t;
	}
	return 0;
}

/* Every request ended exactly once. Frees them. */
static void hs_check(void)
{
	struct hs_req *req, *tmp;
	int calls;

	hs_stop_threads();
	/* Held requests still open are cancelled now, as a thread would. */
	list_for_each_entry(req, &hs_reqs, node) {
		if (!req->held || !req->file)
			continue;
		hs_settle(req, tls_handshake_cancel(req->sock->sk));
		fput(req->file);
		req->file = NULL;
	}
	list_for_each_entry_safe(req, tmp, &hs_reqs, node) {
		calls = atomic_read(&req->done_calls);
		hs_checked++;
		if (calls > 1)
			hs_bad_twice++;
		else if (calls && req->cancel_won)
			hs_bad_both++;
		else if (!calls && !req->cancel_won)
			hs_bad_neither++;
		list_del(&req->node);
		/*
		 * Freed once its thread saw complete() finish; one that never
		 * heard may still: it is left (and kmemleak says so).
		 */
		if (req->cancel_won || req->heard)
			kfree(req);
	}
	list_for_each_entry_safe(req, tmp, &hs_refused, node) {
		list_del(&req->node);
		if (atomic_read(&req->done_calls))
			hs_bad_refused++;
		else
			kfree(req);
	}
}

static int hs_show(struct seq_file *m, void *v)
{
	unsigned long end = atomic_read(&hs_running) ? jiffies : hs_ended;
	unsigned int ms = jiffies_to_msecs(end - hs_started);
	int i;

	seq_printf(m, "running=%d\nelapsed_ms=%u\n", atomic_read(&hs_running), ms);
	seq_printf(m, "submitted=%d\nsubmit_eagain=%d\nsubmit_esrch=%d\nsubmit_other=%d\n",
		   atomic_read(&hs_submitted), atomic_read(&hs_submit_eagain),
		   atomic_read(&hs_submit_esrch), atomic_read(&hs_submit_other));
	seq_printf(m, "gfp_kernel=%d\ngfp_nofs=%d\ngfp_atomic=%d\n",
		   atomic_read(&hs_gfp[0]), atomic_read(&hs_gfp[1]),
		   atomic_read(&hs_gfp[2]));
	for (i = 0; i < HS_ENDINGS; i++)
		seq_printf(m, "ending_%s=%d\n", hs_ending_names[i],
			   atomic_read(&hs_endings[i]));
	seq_printf(m, "done=%d\ndone_ok=%d\ndone_eio=%d\ndone_eacces=%d\ndone_other=%d\n",
		   atomic_read(&hs_done_total), atomic_read(&hs_done_ok),
		   atomic_read(&hs_done_eio), atomic_read(&hs_done_eacces),
		   atomic_read(&hs_done_other));
	seq_printf(m, "held=%d\n", atomic_read(&hs_held));
	seq_printf(m, "cancel_won=%d\ncancel_lost=%d\nlost=%d\nsockets_alive=%d\n",
		   atomic_read(&hs_cancel_won), atomic_read(&hs_cancel_lost),
		   atomic_read(&hs_lost), atomic_read(&hs_socks_alive));
	seq_printf(m, "checked=%d\nbad_twice=%d\nbad_both=%d\nbad_neither=%d\nbad_refused=%d\n",
		   hs_checked, hs_bad_twice, hs_bad_both, hs_bad_neither,
		   hs_bad_refused);
	return 0;
}

static int hs_open(struct inode *inode, struct file *file)
{
	return single_open(file, hs_show, NULL);
}

static ssize_t hs_write(struct file *file, const char __user *ubuf,
			size_t len, loff_t *pos)
{
	unsigned int threads, seconds, inflight, n;
	struct hs_req *req;
	char buf[64];
	int ret;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	mutex_lock(&hs_lock);
	if (sscanf(buf, "start %u %u %u", &threads, &seconds, &inflight) == 3) {
		ret = hs_start(threads, seconds, inflight);
	} else if (sscanf(buf, "hold %u", &n) == 1 && n <= 64) {
		/* Requests no thread ends: only ta_done, or "check", does. */
		for (; n; n--) {
			req = hs_submit();
			if (!req)
				continue;
			req->held = true;
			atomic_inc(&hs_held);
		}
		ret = 0;
	} else if (sysfs_streq(buf, "stop")) {
		/* The threads end their current batch and stop submitting. */
		WRITE_ONCE(hs_deadline, jiffies);
		ret = 0;
	} else if (sysfs_streq(buf, "check")) {
		ret = atomic_read(&hs_running) ? -EBUSY : 0;
		if (!ret)
			hs_check();
	} else {
		ret = -EINVAL;
	}
	mutex_unlock(&hs_lock);
	return ret ? ret : len;
}

static const struct proc_ops hs_proc_ops = {
	.proc_open = hs_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
	.proc_write = hs_write,
};

static int __init hs_stress_init(void)
{
	if (!proc_create("hs_stress", 0600, NULL, &hs_proc_ops))
		return -ENOMEM;
	return 0;
}

static void __exit hs_stress_exit(void)
{
	remove_proc_entry("hs_stress", NULL);
	mutex_lock(&hs_lock);
	hs_stop_threads();
	hs_check();
	mutex_unlock(&hs_lock);
}

module_init(hs_stress_init);
module_exit(hs_stress_exit);
MODULE_DESCRIPTION("Stress consumer of the TLS handshake API, for tests");
MODULE_LICENSE("GPL");
