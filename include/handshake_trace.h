/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Trace events of the handshake service.
 *
 * The system, event names and fields follow the in-tree C service, so
 * scripts written for "handshake:*" events keep working.
 */

#undef TRACE_SYSTEM
#define TRACE_SYSTEM handshake

#if !defined(_HANDSHAKE_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _HANDSHAKE_TRACE_H

#include <linux/tracepoint.h>
#include <net/net_namespace.h>

struct sock;

DECLARE_EVENT_CLASS(hs_req_class,
	TP_PROTO(const struct net *net, const void *req, const struct sock *sk),
	TP_ARGS(net, req, sk),
	TP_STRUCT__entry(
		__field(const void *, req)
		__field(const void *, sk)
		__field(unsigned int, netns_ino)
	),
	TP_fast_assign(
		__entry->req = req;
		__entry->sk = sk;
		__entry->netns_ino = net->ns.inum;
	),
	TP_printk("req=%p sk=%p", __entry->req, __entry->sk)
);

#define HS_REQ_EVENT(name)						\
	DEFINE_EVENT(hs_req_class, name,				\
		TP_PROTO(const struct net *net, const void *req,	\
			 const struct sock *sk),			\
		TP_ARGS(net, req, sk))

DECLARE_EVENT_CLASS(hs_req_val_class,
	TP_PROTO(const struct net *net, const void *req, const struct sock *sk,
		 int val),
	TP_ARGS(net, req, sk, val),
	TP_STRUCT__entry(
		__field(const void *, req)
		__field(const void *, sk)
		__field(int, val)
		__field(unsigned int, netns_ino)
	),
	TP_fast_assign(
		__entry->req = req;
		__entry->sk = sk;
		__entry->val = val;
		__entry->netns_ino = net->ns.inum;
	),
	TP_printk("req=%p sk=%p %d", __entry->req, __entry->sk, __entry->val)
);

#define HS_REQ_VAL_EVENT(name)						\
	DEFINE_EVENT(hs_req_val_class, name,				\
		TP_PROTO(const struct net *net, const void *req,	\
			 const struct sock *sk, int val),		\
		TP_ARGS(net, req, sk, val))

HS_REQ_EVENT(handshake_submit);
HS_REQ_VAL_EVENT(handshake_submit_err);
HS_REQ_EVENT(handshake_cancel);
HS_REQ_EVENT(handshake_cancel_none);
HS_REQ_EVENT(handshake_cancel_busy);
HS_REQ_EVENT(handshake_destruct);
HS_REQ_VAL_EVENT(handshake_complete);
HS_REQ_VAL_EVENT(handshake_notify_err);
HS_REQ_VAL_EVENT(handshake_cmd_accept);
HS_REQ_VAL_EVENT(handshake_cmd_accept_err);
HS_REQ_VAL_EVENT(handshake_cmd_done);
HS_REQ_VAL_EVENT(handshake_cmd_done_err);
/* A DONE carried this many attributes of types the module does not know. */
HS_REQ_VAL_EVENT(handshake_cmd_done_unknown_attrs);
/* READY was sent again this many times for an agent that joined. */
HS_REQ_VAL_EVENT(handshake_ready_again);
/* The request reached its deadline: it completes with -ETIMEDOUT. */
HS_REQ_EVENT(handshake_timed_out);
/*
 * The process that accepted the request (its pid in the initial pid
 * namespace) exited before its DONE: the request completes with -EIO.
 */
HS_REQ_VAL_EVENT(handshake_agent_died);
/* The request's namespace went away while it was pending (-ETIMEDOUT). */
HS_REQ_EVENT(handshake_drained);

TRACE_EVENT(tls_contenttype,
	TP_PROTO(const struct sock *sk, unsigned char type),
	TP_ARGS(sk, type),
	TP_STRUCT__entry(
		__field(const void *, sk)
		__field(unsigned long, type)
	),
	TP_fast_assign(
		__entry->sk = sk;
		__entry->type = type;
	),
	TP_printk("sk=%p type=%lu", __entry->sk, __entry->type)
);

DECLARE_EVENT_CLASS(hs_alert_class,
	TP_PROTO(const struct sock *sk, unsigned char level,
		 unsigned char description),
	TP_ARGS(sk, level, description),
	TP_STRUCT__entry(
		__field(const void *, sk)
		__field(unsigned long, level)
		__field(unsigned long, description)
	),
	TP_fast_assign(
		__entry->sk = sk;
		__entry->level = level;
		__entry->description = description;
	),
	TP_printk("sk=%p level=%lu description=%lu",
		  __entry->sk, __entry->level, __entry->description)
);

DEFINE_EVENT(hs_alert_class, tls_alert_send,
	TP_PROTO(const struct sock *sk, unsigned char level,
		 unsigned char description),
	TP_ARGS(sk, level, description));

DEFINE_EVENT(hs_alert_class, tls_alert_recv,
	TP_PROTO(const struct sock *sk, unsigned char level,
		 unsigned char description),
	TP_ARGS(sk, level, description));

#endif /* _HANDSHAKE_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE handshake_trace
#include <trace/define_trace.h>
