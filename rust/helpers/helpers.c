// SPDX-License-Identifier: GPL-2.0
/*
 * Thin C wrappers for static inline functions and macros that the Rust
 * part of the handshake module calls. No logic lives here: every
 * function forwards to exactly one kernel helper.
 */

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/key.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/socket.h>
#include <linux/spinlock.h>
#include <linux/uio.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/netns/generic.h>
#include <net/sock.h>
#include <net/tls_prot.h>
#include <uapi/linux/keyctl.h>
#include <uapi/linux/tls.h>

#include "handshake_glue.h"

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

u32 hs_nla_get_u32(const struct nlattr *nla)
{
	return nla_get_u32(nla);
}

s32 hs_nla_get_s32(const struct nlattr *nla)
{
	return nla_get_s32(nla);
}

int hs_nla_len(const struct nlattr *nla)
{
	return nla_len(nla);
}

const struct nlattr *hs_genl_info_next_attr(const struct genl_info *info,
					    const struct nlattr *prev,
					    int attrtype)
{
	const struct nlattr *head = nlmsg_attrdata(info->nlhdr, GENL_HDRLEN);
	int len = nlmsg_attrlen(info->nlhdr, GENL_HDRLEN);
	const struct nlattr *nla;
	int rem;

	if (prev) {
		len -= (const char *)prev - (const char *)head;
		head = prev;
		if (!nla_ok(head, len))
			return NULL;
		head = nla_next(head, &len);
	}
	nla_for_each_attr(nla, head, len, rem) {
		if (nla_type(nla) == attrtype)
			return nla;
	}
	return NULL;
}

void hs_sockfd_put(struct socket *sock)
{
	sockfd_put(sock);
}

long hs_file_count(struct file *file)
{
	return file_count(file);
}

int hs_keyring_link_to_process(key_serial_t keyring)
{
#if IS_ENABLED(CONFIG_KEYS)
	key_ref_t process_ref, keyring_ref;
	int ret;

	process_ref = lookup_user_key(KEY_SPEC_PROCESS_KEYRING,
				      KEY_LOOKUP_CREATE, KEY_NEED_WRITE);
	if (IS_ERR(process_ref))
		return PTR_ERR(process_ref);

	keyring_ref = lookup_user_key(keyring, KEY_LOOKUP_CREATE,
				      KEY_NEED_LINK);
	if (IS_ERR(keyring_ref)) {
		key_ref_put(process_ref);
		return PTR_ERR(keyring_ref);
	}

	ret = key_link(key_ref_to_ptr(process_ref),
		       key_ref_to_ptr(keyring_ref));
	key_ref_put(keyring_ref);
	key_ref_put(process_ref);
	return ret;
#else
	return 0;
#endif
}

int hs_sock_send_record(struct socket *sock, u8 record_type,
			const void *data, size_t len)
{
	u8 cbuf[CMSG_SPACE(sizeof(record_type))] = {};
	struct msghdr msg = {
		.msg_control	= cbuf,
		.msg_controllen	= sizeof(cbuf),
		.msg_flags	= MSG_DONTWAIT,
	};
	struct kvec iov = {
		.iov_base	= (void *)data,
		.iov_len	= len,
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	int ret;

	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(sizeof(record_type));
	memcpy(CMSG_DATA(cmsg), &record_type, sizeof(record_type));

	iov_iter_kvec(&msg.msg_iter, ITER_SOURCE, &iov, 1, len);
	ret = sock_sendmsg(sock, &msg);
	return ret < 0 ? ret : 0;
}

const u8 *hs_cmsg_data(const struct cmsghdr *cmsg)
{
	return (const u8 *)CMSG_DATA(cmsg);
}

const u8 *hs_msg_first_kvec(const struct msghdr *msg, size_t *len)
{
	const struct kvec *iov = msg->msg_iter.kvec;

	*len = iov->iov_len;
	return iov->iov_base;
}

sk_destruct_fn hs_sk_get_destruct(const struct sock *sk)
{
	return sk->sk_destruct;
}

void hs_sk_set_destruct(struct sock *sk, sk_destruct_fn destruct)
{
	sk->sk_destruct = destruct;
}
