#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Send one handshake request with chosen header fields and print the
kernel's answer as "ERRNO-NAME extack-message" ("0" for success).

usage: rawhdr.py COMMAND RESERVED NLMSG_FLAGS
  COMMAND      accept or done (their attributes: handler-class 1, or
               status 0 and sockfd -1)
  RESERVED     the generic netlink header's reserved field
  NLMSG_FLAGS  the netlink header's flags (NLM_F_REQUEST is added)
"""
import errno
import socket
import struct
import sys

SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
NLMSG_ERROR = 2
NLMSGERR_ATTR_MSG = 1


def attr(kind, payload):
    size = 4 + len(payload)
    return struct.pack('=HH', size, kind) + payload + b'\0' * (-size % 4)


def attrs(data):
    off = 0
    while off + 4 <= len(data):
        size, kind = struct.unpack_from('=HH', data, off)
        if size < 4:
            return
        yield kind & 0x3fff, data[off + 4:off + size]
        off += (size + 3) & ~3


def ask(sock, family, cmd, reserved, flags, body):
    msg = struct.pack('=BBH', cmd, 1, reserved) + body
    sock.send(struct.pack('=IHHII', 16 + len(msg), family, flags | 1, 1, 0) + msg)
    while True:
        data = sock.recv(65536)
        size, kind, rflags = struct.unpack_from('=IHH', data)
        if kind == NLMSG_ERROR:
            err = -struct.unpack_from('=i', data, 16)[0]
            text = ''
            if rflags & 0x200:  # NLM_F_ACK_TLVS, after the echoed header
                inner = struct.unpack_from('=I', data, 20)[0]
                tlvs = data[20 + (inner if rflags & 0x100 == 0 else 16):size]
                for k, v in attrs(tlvs):
                    if k == NLMSGERR_ATTR_MSG:
                        text = v.rstrip(b'\0').decode()
            return err, text
        if kind == 0x10 or family == 0x10:
            return 0, data


def family_id(sock):
    err, data = ask(sock, 0x10, 3, 0, 0, attr(2, b'handshake\0'))
    if err:
        raise OSError(err, 'resolving the family')
    for k, v in attrs(data[20:]):
        if k == 1:
            return struct.unpack('=H', v[:2])[0]
    raise LookupError('no family id')


def main(cmd, reserved, flags):
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)
    sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    sock.bind((0, 0))
    sock.settimeout(10)
    fam = family_id(sock)
    if cmd == 'accept':
        number, body = 2, attr(2, struct.pack('=I', 1))
    else:
        number, body = 3, attr(1, struct.pack('=I', 0)) + attr(2, struct.pack('=i', -1))
    err, text = ask(sock, fam, number, int(reserved, 0), int(flags, 0), body)
    print(errno.errorcode.get(err, err) if err else 0, text)


main(*sys.argv[1:4])
