/* SPDX-License-Identifier: GPL-2.0 */
#ifndef HS_NETNS_LAST_H
#define HS_NETNS_LAST_H

struct net;

void hs_netns_last_set(void (*fn)(struct net *net));

#endif
