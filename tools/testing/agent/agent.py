#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A scripted stand-in for tlshd, driven by commands, for the guest tests.

It uses the upstream YNL library and spec, joins the tlshd multicast group
(so that submits find a listener) and answers "ready". Then it reads one
command a line from CMD_FIFO and answers each with one JSON line on
REPLY_FIFO:

  wait-ready           wait up to 60 s for READY: {"ready": msg}
  accept               ACCEPT, keep the socket's fd: {"reply": attrs}
  accept-fdfull        ACCEPT with the fd table full under a lowered
                       RLIMIT_NOFILE (the filler fds are closed after)
  forge FD             DONE for FD from a child without CAP_NET_ADMIN:
                       {"errno": n}
  done FD STATUS [ID...]  DONE with remote-auth IDs: {}
  done-newer FD STATUS [bad]
                       DONE as an agent newer than the spec sends it, with
                       attributes 4 (a string) and 200 (a u32) that the
                       spec does not define; with "bad", STATUS is 8 bytes
                       long, which strict validation refuses: {"errno": n}
  close                close every socket fd held: {}
  diag OP              the handshake.ko family handshake-diag (its spec in
                       this repository): OP stats-get (do) or request-get
                       (dump), {"diag": answer}; the same as the YNL CLI
                       with that spec, without starting it each time
  reopen               resolve the family again (after the module was
                       reloaded) and rejoin the tlshd group: {}
  quit                 {} and exit

A netlink error answers {"error": errno}.

usage: agent.py YNL_DIR SPEC CMD_FIFO REPLY_FIFO
"""
import json
import os
import resource
import socket
import struct
import sys

sys.path.insert(0, sys.argv[1])
from lib import NlError, YnlFamily  # noqa: E402
from lib.ynl import GenlProtocol  # noqa: E402

NOBODY = 65534
DIAG_SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         '../../../Documentation/netlink/specs/handshake-diag.yaml')
# The handshake-diag family, opened at its first use (the spec is parsed once).
DIAG = []


def fill_fd_table():
    """Lower RLIMIT_NOFILE and open descriptors until none is left."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    held = []
    try:
        while True:
            held.append(os.open('/dev/null', os.O_RDONLY))
    except OSError:
        pass
    return held


def forge_done(spec, fd):
    """DONE for fd from a child without CAP_NET_ADMIN; returns its errno."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            forger = YnlFamily(spec, schema='')
            forger.do('done', {'sockfd': fd, 'status': 0, 'remote-auth': [99]})
        except NlError as e:
            code = e.error
        except Exception:  # noqa: BLE001
            code = 255
        os._exit(code)
    _, wstatus = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wstatus)


def nlattr(kind, payload):
    size = 4 + len(payload)
    return struct.pack('=HH', size, kind) + payload + b'\0' * (-size % 4)


def done_newer(ynl, fd, status, bad):
    """DONE with attributes the spec does not define; returns the errno."""
    family = ynl.nlproto.family_id
    status = struct.pack('=Q' if bad else '=I', status)
    body = struct.pack('=BBH', 3, 1, 0) + nlattr(1, status) + \
        nlattr(2, struct.pack('=i', fd)) + nlattr(4, b'__tag__\0') + \
        nlattr(200, struct.pack('=I', 7))
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16) as s:
        s.bind((0, 0))
        s.settimeout(10)
        s.send(struct.pack('=IHHII', 16 + len(body), family, 1 | 4, 1, 0) + body)
        while True:
            data = s.recv(65536)
            _, kind = struct.unpack_from('=IH', data)
            if kind == 2:
                return -struct.unpack_from('=i', data, 16)[0]


def run(ynl, spec, cmd, held):
    """Carry out one command; returns the answer."""
    words = cmd.split()
    if words[0] == 'wait-ready':
        for ntf in ynl.poll_ntf(duration=60):
            return {'ready': ntf['msg']}
        return {'error': 110}
    if words[0] in ('accept', 'accept-fdfull'):
        fillers = fill_fd_table() if words[0] == 'accept-fdfull' else []
        try:
            reply = ynl.do('accept', {'handler-class': 1})
        finally:
            for fd in fillers:
                os.close(fd)
        held.append(reply['sockfd'])
        return {'reply': reply}
    if words[0] == 'forge':
        return {'errno': forge_done(spec, int(words[1]))}
    if words[0] == 'done':
        ynl.do('done', {'sockfd': int(words[1]), 'status': int(words[2]),
                        'remote-auth': [int(w) for w in words[3:]]})
        return {}
    if words[0] == 'done-newer':
        return {'errno': done_newer(ynl, int(words[1]), int(words[2]),
                                    words[3:] == ['bad'])}
    if words[0] == 'close':
        for fd in held:
            os.close(fd)
        held.clear()
        return {}
    if words[0] == 'diag':
        if not DIAG:
            DIAG.append(YnlFamily(DIAG_SPEC, schema=''))
        if words[1] == 'request-get':
            return {'diag': DIAG[0].dump(words[1], {})}
        return {'diag': DIAG[0].do(words[1], {})}
    return {'error': 22}


def open_family(spec):
    """The handshake family, resolved now, with the tlshd group joined."""
    # The library caches family ids per process; a reloaded module has new ones.
    GenlProtocol.genl_family_name_to_id = {}
    for diag in DIAG:
        diag.close()
    DIAG.clear()
    ynl = YnlFamily(spec, schema='')
    ynl.ntf_subscribe('tlshd')
    return ynl


def main(spec, cmd_fifo, reply_fifo):
    ynl = open_family(spec)
    held = []
    with open(reply_fifo, 'w', buffering=1) as reply:
        reply.write('{"ready": true}\n')
        with open(cmd_fifo) as cmds:
            for line in cmds:
                cmd = line.strip()
                if not cmd:
                    continue
                if cmd == 'quit':
                    reply.write('{}\n')
                    return
                if cmd == 'reopen':
                    ynl.close()
                    try:
                        ynl = open_family(spec)
                        reply.write('{}\n')
                    except Exception as e:  # noqa: BLE001
                        reply.write(json.dumps({'error': str(e)}) + '\n')
                    continue
                try:
                    answer = run(ynl, spec, cmd, held)
                except NlError as e:
                    answer = {'error': e.error}
                reply.write(json.dumps(answer) + '\n')


if __name__ == '__main__':
    main(*sys.argv[2:5])
