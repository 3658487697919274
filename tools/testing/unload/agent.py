#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A scripted handshake agent for the unload tests, using the upstream YNL
library and spec. It joins the tlshd group (so submits find a listener),
then follows commands read from a FIFO, one per line:

  accept   ACCEPT one request and keep its socket fd open
  close    close every socket fd it holds
  quit     exit

and answers each with a line on a second FIFO: "ok [fd]" or "error <errno>".
"""
import os
import sys

sys.path.insert(0, '/mnt/ksrc/tools/net/ynl/pyynl')
from lib import YnlFamily, NlError  # noqa: E402

SPEC = '/mnt/ksrc/Documentation/netlink/specs/handshake.yaml'


def main(cmd_fifo, reply_fifo):
    ynl = YnlFamily(SPEC, schema='')
    ynl.ntf_subscribe('tlshd')
    held = []
    with open(reply_fifo, 'w', buffering=1) as reply:
        reply.write('ready\n')
        with open(cmd_fifo) as cmds:
            for line in cmds:
                cmd = line.strip()
                try:
                    if cmd == 'accept':
                        fd = ynl.do('accept', {'handler-class': 'tlshd'})['sockfd']
                        held.append(fd)
                        reply.write(f'ok {fd}\n')
                    elif cmd == 'close':
                        for fd in held:
                            os.close(fd)
                        held.clear()
                        reply.write('ok\n')
                    elif cmd == 'quit':
                        reply.write('ok\n')
                        return
                except NlError as e:
                    reply.write(f'error {e.error}\n')


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
