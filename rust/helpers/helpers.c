// SPDX-License-Identifier: GPL-2.0
/*
 * Thin C wrappers for static inline functions and macros that the Rust
 * part of the handshake module calls. No logic lives here: every
 * function forwards to exactly one kernel helper.
 */

#include <linux/bottom_half.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kallsyms.h>
#include <linux/key.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/nsproxy.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/socket.h>
#include <linux/spinlock.h>
#include <linux/uio.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/netns/generic.h>
#include <net/sock.h>

#include "handshake_glue.h"

/* The room rust/abstractions/module.rs gives a symbol's description. */
static_assert(KSYM_SYMBOL_LEN <= 1024);

void hs_spin_lock_bh(spinlock_t *lock)
{
	spin_lock_bh(lock);
}

void hs_spin_unlock_bh(spinlock_t *lock)
{
	spin_unlock_bh(lock);
}

int hs_spin_trylock_bh(spinlock_t *lock)
{
	return spin_trylock_bh(lock);
}

void hs_local_bh_disable(void)
{
	local_bh_disable();
}

void hs_local_bh_enable(void)
{
	local_bh_enable();
}

bool hs_module_get(void)
{
	return try_module_get(THIS_MODULE);
}

void hs_module_put(void)
{
	module_put(THIS_MODULE);
}

struct net *hs_sock_net(const struct sock *sk)
{
	return sock_net(sk);
}

void **hs_net_generic(const struct net *net, unsigned int id)
{
	return net_generic(net, id);
}

struct net *hs_genl_info_net(const struct genl_info *info)
{
	return genl_info_net(info);
}

struct net *hs_current_net_get(void)
{
	return current->nsproxy ? maybe_get_net(current->nsproxy->net_ns) : NULL;
}

struct net *hs_maybe_get_net(struct net *net)
{
	return maybe_get_net(net);
}

struct pid *hs_current_tgid_get(void)
{
	return get_task_pid(current, PIDTYPE_TGID);
}

bool hs_pid_alive(struct pid *pid)
{
	struct task_struct *task;
	bool alive;

	rcu_read_lock();
	task = pid_task(pid, PIDTYPE_TGID);
	alive = task && atomic_read(&task->signal->live) > 0;
	rcu_read_unlock();
	return alive;
}

void hs_put_net(struct net *net)
{
	put_net(net);
}

int hs_genlmsg_reply(struct sk_buff *skb, struct genl_info *info)
{
	return genlmsg_reply(skb, info);
}

int hs_genlmsg_multicast_netns(const struct genl_family *family,
			       struct net *net, struct sk_buff *skb,
			       unsigned int group, gfp_t flags)
{
	return genlmsg_multicast_netns(family, net, skb, 0, group, flags);
}

struct nlattr *hs_nla_nest_start(struct sk_buff *skb, int attrtype)
{
	return nla_nest_start(skb, attrtype);
}

void hs_nla_nest_end(struct sk_buff *skb, struct nlattr *start)
{
	nla_nest_end(skb, start);
}

void hs_nla_nest_cancel(struct sk_buff *skb, struct nlattr *start)
{
	nla_nest_cancel(skb, start);
}

void hs_sockfd_put(struct socket *sock)
{
	sockfd_put(sock);
}

long hs_file_count(struct file *file)
{
	return file_count(file);
}

#ifdef CONFIG_KEYS
void hs_key_ref_put(key_ref_t key_ref)
{
	key_ref_put(key_ref);
}
#endif

const u8 *hs_cmsg_data(const struct cmsghdr *cmsg)
{
	return (const u8 *)CMSG_DATA(cmsg);
}

const struct kvec *hs_msg_first_kvec(const struct msghdr *msg)
{
	return msg->msg_iter.kvec;
}

sk_destruct_fn hs_sk_get_destruct(const struct sock *sk)
{
	return sk->sk_destruct;
}

void hs_sk_set_destruct(struct sock *sk, sk_destruct_fn destruct)
{
	sk->sk_destruct = destruct;
}
