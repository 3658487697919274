#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A stand-in for tlshd that accepts one request and holds its socket.

Waits for READY on the tlshd group, ACCEPTs, writes the reply to OUT, and
keeps the accepted descriptor open until the file RELEASE exists. Then it
reports DONE with STATUS (unless STATUS is "none") and closes the socket.

usage: agent.py YNL_DIR SPEC OUT RELEASE STATUS
"""
import json
import os
import sys
import time

sys.path.insert(0, sys.argv[1])
from lib import YnlFamily  # noqa: E402

spec, out, release, status = sys.argv[2:6]
ynl = YnlFamily(spec, schema='')
ynl.ntf_subscribe('tlshd')
with open(out + '.ready', 'w') as f:
    f.write('ready\n')
for ntf in ynl.poll_ntf(duration=60):
    break
else:
    sys.exit('no READY notification')
reply = ynl.do('accept', {'handler-class': 1})
with open(out, 'w') as f:
    json.dump(reply, f)
fd = reply['sockfd']
while not os.path.exists(release):
    time.sleep(0.2)
if status != 'none':
    ynl.do('done', {'sockfd': fd, 'status': int(status), 'remote-auth': [77, 78]})
os.close(fd)
with open(out + '.closed', 'w') as f:
    f.write('closed\n')
