# SPDX-License-Identifier: GPL-2.0
# Sourced in the guest: waiting for the user-space ends of a test.
#
# wait_port PORT   until something listens on 127.0.0.1:PORT (10 s)
# wait_tlshd PID   until tlshd has opened its netlink socket, and a little
#                  more for it to join the tlshd group (5 s)

wait_port() {
	for _ in $(seq 100); do
		ss -Hltn "sport = :$1" | grep -q LISTEN && return 0
		sleep 0.1
	done
	echo "nothing listens on port $1"
	return 1
}

wait_tlshd() {
	for _ in $(seq 50); do
		ls -l "/proc/$1/fd" 2>/dev/null | grep -q socket && break
		sleep 0.1
	done
	sleep 0.5
}
