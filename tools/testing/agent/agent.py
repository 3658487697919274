#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A stand-in for tlshd that accepts one request and holds its socket.

Waits for READY on the tlshd group, ACCEPTs, writes the reply to OUT, and
keeps the accepted descriptor open until the file RELEASE exists. Then an
unprivileged child tries to forge a DONE for the socket (its error goes to
OUT.forged), and the agent reports DONE with STATUS (unless STATUS is "none")
and closes the socket.

With STATUS "fdfull" the agent fills its descriptor table up to a lowered
RLIMIT_NOFILE before it ACCEPTs, writes the error of the ACCEPT to OUT as
{"error": errno} and exits.

usage: agent.py YNL_DIR SPEC OUT RELEASE STATUS
"""
import json
import os
import resource
import sys
import time

sys.path.insert(0, sys.argv[1])
from lib import NlError, YnlFamily  # noqa: E402

NOBODY = 65534

spec, out, release, status = sys.argv[2:6]
ynl = YnlFamily(spec, schema='')
ynl.ntf_subscribe('tlshd')
with open(out + '.ready', 'w') as f:
    f.write('ready\n')
for ntf in ynl.poll_ntf(duration=60):
    break
else:
    sys.exit('no READY notification')


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


def forge_done(fd):
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


if status == 'fdfull':
    held = fill_fd_table()
    try:
        reply = ynl.do('accept', {'handler-class': 1})
        result = {'error': 0, 'reply': reply}
    except NlError as e:
        result = {'error': e.error}
    for fd in held:
        os.close(fd)
    with open(out, 'w') as f:
        json.dump(result, f)
    sys.exit(0)

reply = ynl.do('accept', {'handler-class': 1})
with open(out, 'w') as f:
    json.dump(reply, f)
fd = reply['sockfd']
while not os.path.exists(release):
    time.sleep(0.2)
if status != 'none':
    with open(out + '.forged', 'w') as f:
        f.write('%d\n' % forge_done(fd))
    ynl.do('done', {'sockfd': fd, 'status': int(status), 'remote-auth': [77, 78]})
os.close(fd)
with open(out + '.closed', 'w') as f:
    f.write('closed\n')
