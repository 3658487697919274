#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Replay, with an acknowledgement requested, the two capability probes
tlshd 1.4.0 sends when it starts, and print the kernel's answer to each as
"NAME errno" (0 for success). tlshd itself takes a successful send for
"supported" and drains the answer without looking at it.

  session_tags:   DONE status=0 sockfd=-1 and attribute 4 ("__probe__"), a
                  session tag in a DONE attribute upstream does not define
  remote_peerids: DONE status=0 sockfd=-1 remote-auth=0
"""
import errno
import os
import socket
import struct

NETLINK_GENERIC = 16
GENL_ID_CTRL = 16
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
HANDSHAKE_CMD_DONE = 3


def attr(kind, payload):
    size = 4 + len(payload)
    return struct.pack('=HH', size, kind) + payload + b'\0' * (-size % 4)


def request(sock, family, cmd, attrs, seq):
    body = struct.pack('=BBH', cmd, 1, 0) + b''.join(attrs)
    sock.send(struct.pack('=IHHII', 16 + len(body), family,
                          NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body)
    reply = []
    while True:
        data = sock.recv(65536)
        off = 0
        while off < len(data):
            size, kind, _, rseq, _ = struct.unpack_from('=IHHII', data, off)
            if rseq == seq:
                if kind == NLMSG_ERROR:
                    return -struct.unpack_from('=i', data, off + 16)[0], reply
                reply.append(data[off + 20:off + size])
            off += (size + 3) & ~3


def family_id(sock, name):
    err, reply = request(sock, GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                         [attr(CTRL_ATTR_FAMILY_NAME, name + b'\0')], 1)
    if err:
        raise OSError(err, os.strerror(err))
    msg = reply[0]
    off = 0
    while off < len(msg):
        size, kind = struct.unpack_from('=HH', msg, off)
        if kind == CTRL_ATTR_FAMILY_ID:
            return struct.unpack_from('=H', msg, off + 4)[0]
        off += (size + 3) & ~3
    raise LookupError('no family id')


def main():
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    sock.bind((0, 0))
    sock.settimeout(10)
    fam = family_id(sock, b'handshake')
    common = [attr(1, struct.pack('=I', 0)), attr(2, struct.pack('=i', -1))]
    probes = [('session_tags', common + [attr(4, b'__probe__\0')]),
              ('remote_peerids', common + [attr(3, struct.pack('=I', 0))])]
    for seq, (name, attrs) in enumerate(probes, 2):
        err, _ = request(sock, fam, HANDSHAKE_CMD_DONE, attrs, seq)
        print(name, errno.errorcode.get(err, err) if err else 0)


main()
