// SPDX-License-Identifier: GPL-2.0
/*
 * The consumer API of the handshake service.
 *
 * The functions are implemented in Rust (rust/capi.rs).
 * Including the kernel's own <net/handshake.h> here makes the compiler
 * check every prototype against the header consumers are built with, and
 * the assertions below pin struct tls_handshake_args to the layout that
 * the Rust side asserts too (rust/capi.rs, TlsHandshakeArgs), so both
 * sides are checked against the same numbers at build time.
 */

#include <linux/build_bug.h>
#include <linux/export.h>
#include <linux/key.h>
#include <linux/net.h>
#include <linux/socket.h>
#include <linux/stddef.h>
#include <net/handshake.h>
#include <net/tls_prot.h>
#include <uapi/linux/keyctl.h>
#include <uapi/linux/tls.h>

#define HS_ARGS_ASSERT(field, off)					\
	static_assert(offsetof(struct tls_handshake_args, field) == (off))

#ifdef CONFIG_64BIT
HS_ARGS_ASSERT(ta_sock, 0);
HS_ARGS_ASSERT(ta_done, 8);
HS_ARGS_ASSERT(ta_data, 16);
HS_ARGS_ASSERT(ta_peername, 24);
HS_ARGS_ASSERT(ta_timeout_ms, 32);
HS_ARGS_ASSERT(ta_keyring, 36);
HS_ARGS_ASSERT(ta_my_cert, 40);
HS_ARGS_ASSERT(ta_my_privkey, 44);
HS_ARGS_ASSERT(ta_num_peerids, 48);
HS_ARGS_ASSERT(ta_my_peerids, 52);
static_assert(sizeof(struct tls_handshake_args) == 72);
#endif
static_assert(sizeof(key_serial_t) == 4);
static_assert(ARRAY_SIZE(((struct tls_handshake_args *)NULL)->ta_my_peerids) == 5);
static_assert(__same_type(tls_done_func_t,
			  void (*)(void *, int, key_serial_t)));

/*
 * Each export is preceded by a pointer of the type the consumer API
 * promises, initialised with the function: the compiler rejects any
 * difference between <net/handshake.h> and these types.
 */
typedef int (*hs_hello_t)(const struct tls_handshake_args *args, gfp_t flags);
typedef bool (*hs_cancel_t)(struct sock *sk);
typedef void (*hs_close_t)(struct socket *sock);
typedef u8 (*hs_record_type_t)(const struct sock *sk,
				const struct cmsghdr *msg);
typedef void (*hs_alert_recv_t)(const struct sock *sk,
				const struct msghdr *msg,
				u8 *level, u8 *description);

static const hs_hello_t hs_anon __maybe_unused = tls_client_hello_anon;
EXPORT_SYMBOL(tls_client_hello_anon);

static const hs_hello_t hs_cx509 __maybe_unused = tls_client_hello_x509;
EXPORT_SYMBOL(tls_client_hello_x509);

static const hs_hello_t hs_cpsk __maybe_unused = tls_client_hello_psk;
EXPORT_SYMBOL(tls_client_hello_psk);

static const hs_hello_t hs_sx509 __maybe_unused = tls_server_hello_x509;
EXPORT_SYMBOL(tls_server_hello_x509);

static const hs_hello_t hs_spsk __maybe_unused = tls_server_hello_psk;
EXPORT_SYMBOL(tls_server_hello_psk);

static const hs_cancel_t hs_cancel __maybe_unused = tls_handshake_cancel;
EXPORT_SYMBOL(tls_handshake_cancel);

static const hs_close_t hs_close __maybe_unused = tls_handshake_close;
EXPORT_SYMBOL(tls_handshake_close);

static const hs_record_type_t hs_rtype __maybe_unused = tls_get_record_type;
EXPORT_SYMBOL(tls_get_record_type);

static const hs_alert_recv_t hs_arecv __maybe_unused = tls_alert_recv;
EXPORT_SYMBOL(tls_alert_recv);

/*
 * Numbers the Rust side uses: the alert protocol (rust/alert.rs), the kTLS
 * control messages (rust/abstractions/tls.rs) and the process keyring
 * (rust/abstractions/keys.rs).
 */
static_assert(TLS_RECORD_TYPE_ALERT == 21);
static_assert(TLS_ALERT_LEVEL_WARNING == 1);
static_assert(TLS_ALERT_DESC_CLOSE_NOTIFY == 0);
static_assert(SOL_TLS == 282);
static_assert(TLS_SET_RECORD_TYPE == 1);
static_assert(TLS_GET_RECORD_TYPE == 2);
static_assert(KEY_SPEC_PROCESS_KEYRING == -2);
