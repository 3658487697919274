/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue of the Rust handshake module: wrappers for static inline kernel
 * functions and macros, and the tracepoint entry points.
 */

#ifndef _HANDSHAKE_GLUE_H
#define _HANDSHAKE_GLUE_H

#include <linux/types.h>
#include <linux/key.h>

struct cmsghdr;
struct file;
struct genl_family;
struct genl_info;
struct kvec;
struct msghdr;
struct net;
struct nlattr;
struct sk_buff;
struct sock;
struct socket;

typedef void (*sk_destruct_fn)(struct sock *sk);

sk_destruct_fn hs_sk_get_destruct(const struct sock *sk);
void hs_sk_set_destruct(struct sock *sk, sk_destruct_fn destruct);

void hs_spin_lock_bh(spinlock_t *lock);
void hs_spin_unlock_bh(spinlock_t *lock);
int hs_spin_trylock_bh(spinlock_t *lock);
void hs_local_bh_disable(void);
void hs_local_bh_enable(void);

bool hs_module_get(void);
void hs_module_put(void);

struct net *hs_sock_net(const struct sock *sk);
void **hs_net_generic(const struct net *net, unsigned int id);

struct net *hs_genl_info_net(const struct genl_info *info);
struct net *hs_current_net_get(void);
struct net *hs_maybe_get_net(struct net *net);
struct pid *hs_current_tgid_get(void);
bool hs_pid_alive(struct pid *pid);
void hs_put_net(struct net *net);
int hs_genlmsg_reply(struct sk_buff *skb, struct genl_info *info);
int hs_genlmsg_multicast_netns(const struct genl_family *family,
			       struct net *net, struct sk_buff *skb,
			       unsigned int group, gfp_t flags);
struct nlattr *hs_nla_nest_start(struct sk_buff *skb, int attrtype);
void hs_nla_nest_end(struct sk_buff *skb, struct nlattr *start);
void hs_nla_nest_cancel(struct sk_buff *skb, struct nlattr *start);

void hs_sockfd_put(struct socket *sock);
long hs_file_count(struct file *file);
#ifdef CONFIG_KEYS
void hs_key_ref_put(key_ref_t key_ref);
#endif
const u8 *hs_cmsg_data(const struct cmsghdr *cmsg);
const struct kvec *hs_msg_first_kvec(const struct msghdr *msg);

void hs_trace_submit(const struct net *net, const void *req,
		     const struct sock *sk);
void hs_trace_submit_err(const struct net *net, const void *req,
			 const struct sock *sk, int err);
void hs_trace_cancel(const struct net *net, const void *req,
		     const struct sock *sk);
void hs_trace_cancel_none(const struct net *net, const void *req,
			  const struct sock *sk);
void hs_trace_cancel_busy(const struct net *net, const void *req,
			  const struct sock *sk);
void hs_trace_destruct(const struct net *net, const void *req,
		       const struct sock *sk);
void hs_trace_complete(const struct net *net, const void *req,
		       const struct sock *sk, int status);
void hs_trace_notify_err(const struct net *net, const void *req,
			 const struct sock *sk, int err);
void hs_trace_cmd_accept(const struct net *net, const void *req,
			 const struct sock *sk, int fd);
void hs_trace_cmd_accept_err(const struct net *net, const void *req,
			     const struct sock *sk, int err);
void hs_trace_cmd_done(const struct net *net, const void *req,
		       const struct sock *sk, int fd);
void hs_trace_cmd_done_err(const struct net *net, const void *req,
			   const struct sock *sk, int err);
void hs_trace_cmd_done_unknown_attrs(const struct net *net, const void *req,
				     const struct sock *sk, int count);
void hs_trace_ready_again(const struct net *net, const void *req,
			  const struct sock *sk, int count);
void hs_trace_timed_out(const struct net *net, const void *req,
			const struct sock *sk);
void hs_trace_agent_died(const struct net *net, const void *req,
			 const struct sock *sk, int pid);
void hs_trace_drained(const struct net *net, const void *req,
		      const struct sock *sk);
void hs_trace_tls_contenttype(const struct sock *sk, u8 type);
void hs_trace_tls_alert_send(const struct sock *sk, u8 level, u8 desc);
void hs_trace_tls_alert_recv(const struct sock *sk, u8 level, u8 desc);

#endif /* _HANDSHAKE_GLUE_H */
