// SPDX-License-Identifier: GPL-2.0
/*
 * The consumer API of the handshake service.
 *
 * The functions are implemented in Rust (rust/tlshd.rs, rust/alert.rs).
 * Including the kernel's own <net/handshake.h> here makes the compiler
 * check every prototype against the header consumers are built with, and
 * the assertions below pin struct tls_handshake_args to the layout that
 * the Rust side asserts too (rust/tlshd.rs, TlsHandshakeArgs), so both
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
 * Each prototype is repeated from <net/handshake.h> right above its export;
 * the compiler rejects any difference from the header.
 */
int tls_client_hello_anon(const struct tls_handshake_args *args, gfp_t flags);
EXPORT_SYMBOL(tls_client_hello_anon);

int tls_client_hello_x509(const struct tls_handshake_args *args, gfp_t flags);
EXPORT_SYMBOL(tls_client_hello_x509);

int tls_client_hello_psk(const struct tls_handshake_args *args, gfp_t flags);
EXPORT_SYMBOL(tls_client_hello_psk);

int tls_server_hello_x509(const struct tls_handshake_args *args, gfp_t flags);
EXPORT_SYMBOL(tls_server_hello_x509);

int tls_server_hello_psk(const struct tls_handshake_args *args, gfp_t flags);
EXPORT_SYMBOL(tls_server_hello_psk);

bool tls_handshake_cancel(struct sock *sk);
EXPORT_SYMBOL(tls_handshake_cancel);

void tls_handshake_close(struct socket *sock);
EXPORT_SYMBOL(tls_handshake_close);

u8 tls_get_record_type(const struct sock *sk, const struct cmsghdr *msg);
EXPORT_SYMBOL(tls_get_record_type);

void tls_alert_recv(const struct sock *sk, const struct msghdr *msg,
		    u8 *level, u8 *description);
EXPORT_SYMBOL(tls_alert_recv);

/* Numbers the Rust side (rust/alert.rs) uses for the alert protocol. */
static_assert(TLS_RECORD_TYPE_ALERT == 21);
static_assert(TLS_ALERT_LEVEL_WARNING == 1);
static_assert(TLS_ALERT_DESC_CLOSE_NOTIFY == 0);
static_assert(SOL_TLS == 282);
static_assert(TLS_GET_RECORD_TYPE == 2);
