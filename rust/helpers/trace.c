// SPDX-License-Identifier: GPL-2.0
/*
 * Tracepoints of the handshake service.
 *
 * The events are declared in include/handshake_trace.h; the Rust code
 * fires them through the small wrappers below.
 */

#include <net/sock.h>

#include "handshake_glue.h"

#define CREATE_TRACE_POINTS
#include "handshake_trace.h"

#define HS_REQ(req) (req)

void hs_trace_submit(const struct net *net, const void *req,
		     const struct sock *sk)
{
	trace_handshake_submit(net, HS_REQ(req), sk);
}

void hs_trace_submit_err(const struct net *net, const void *req,
			 const struct sock *sk, int err)
{
	trace_handshake_submit_err(net, HS_REQ(req), sk, err);
}

void hs_trace_cancel(const struct net *net, const void *req,
		     const struct sock *sk)
{
	trace_handshake_cancel(net, HS_REQ(req), sk);
}

void hs_trace_cancel_none(const struct net *net, const void *req,
			  const struct sock *sk)
{
	trace_handshake_cancel_none(net, HS_REQ(req), sk);
}

void hs_trace_cancel_busy(const struct net *net, const void *req,
			  const struct sock *sk)
{
	trace_handshake_cancel_busy(net, HS_REQ(req), sk);
}

void hs_trace_destruct(const struct net *net, const void *req,
		       const struct sock *sk)
{
	trace_handshake_destruct(net, HS_REQ(req), sk);
}

void hs_trace_complete(const struct net *net, const void *req,
		       const struct sock *sk, int status)
{
	trace_handshake_complete(net, HS_REQ(req), sk, status);
}

void hs_trace_notify_err(const struct net *net, const void *req,
			 const struct sock *sk, int err)
{
	trace_handshake_notify_err(net, HS_REQ(req), sk, err);
}

void hs_trace_cmd_accept(const struct net *net, const void *req,
			 const struct sock *sk, int fd)
{
	trace_handshake_cmd_accept(net, HS_REQ(req), sk, fd);
}

void hs_trace_cmd_accept_err(const struct net *net, const void *req,
			     const struct sock *sk, int err)
{
	trace_handshake_cmd_accept_err(net, HS_REQ(req), sk, err);
}

void hs_trace_cmd_done(const struct net *net, const void *req,
		       const struct sock *sk, int fd)
{
	trace_handshake_cmd_done(net, HS_REQ(req), sk, fd);
}

void hs_trace_cmd_done_err(const struct net *net, const void *req,
			   const struct sock *sk, int err)
{
	trace_handshake_cmd_done_err(net, HS_REQ(req), sk, err);
}

void hs_trace_cmd_done_unknown_attrs(const struct net *net, const void *req,
				     const struct sock *sk, int count)
{
	trace_handshake_cmd_done_unknown_attrs(net, HS_REQ(req), sk, count);
}

void hs_trace_ready_again(const struct net *net, const void *req,
			  const struct sock *sk, int count)
{
	trace_handshake_ready_again(net, HS_REQ(req), sk, count);
}

void hs_trace_timed_out(const struct net *net, const void *req,
			const struct sock *sk)
{
	trace_handshake_timed_out(net, HS_REQ(req), sk);
}

void hs_trace_agent_died(const struct net *net, const void *req,
			 const struct sock *sk, int pid)
{
	trace_handshake_agent_died(net, HS_REQ(req), sk, pid);
}

void hs_trace_drained(const struct net *net, const void *req,
		      const struct sock *sk)
{
	trace_handshake_drained(net, HS_REQ(req), sk);
}

void hs_trace_tls_contenttype(const struct sock *sk, u8 type)
{
	trace_tls_contenttype(sk, type);
}

void hs_trace_tls_alert_send(const struct sock *sk, u8 level, u8 desc)
{
	trace_tls_alert_send(sk, level, desc);
}

void hs_trace_tls_alert_recv(const struct sock *sk, u8 level, u8 desc)
{
	trace_tls_alert_recv(sk, level, desc);
}
