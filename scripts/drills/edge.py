#!/usr/bin/env python3
"""Hardening drills against a running koolicense (called by scripts/drills/edge.sh).

    edge.py methods HOST PORT PID COUNT
        COUNT requests with random method tokens on random paths and on real routes, twice;
        prints /metrics size and the server's RSS before, after the first COUNT and after the
        second, and whether `other` shows.
    edge.py slow HOST PORT PID CONNECTIONS INTERVAL DURATION PROBE RECONNECT
        CONNECTIONS connections each send a request head promising a 1000-byte body, then one
        byte every INTERVAL s, for at most DURATION s; prints how many the server still held
        at the end and how long the others lasted. With RECONNECT=1 a connection the server
        closes comes back (the attack goes on). With PROBE=1, a plain GET /healthz every second
        meanwhile; prints the slowest answer. The server's open descriptors are sampled every
        second.

Everything is bounded in time and talks to HOST only; results go to stdout as `key=value`.
"""

import os
import random
import socket
import string
import sys
import threading
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def http(host, port, method, path, timeout=10.0):
    """One request on its own connection; returns (status, body bytes)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body


def odd_requests(host, port, first, count):
    routes = ["/healthz", "/v1/activate", "/koogallery/license", "/admin/v1/codes"]
    for i in range(first, first + count):
        token = "X%05dZ" % i
        path = random.choice(routes) if i % 2 else "/" + "".join(
            random.choices(string.ascii_lowercase + string.digits, k=12))
        http(host, port, token, path)


def methods(host, port, pid, count):
    _, before = http(host, port, "GET", "/metrics")
    rss_before = rss_kb(pid)
    odd_requests(host, port, 0, count)
    _, after = http(host, port, "GET", "/metrics")
    rss_after = rss_kb(pid)
    odd_requests(host, port, count, count)
    _, again = http(host, port, "GET", "/metrics")
    print(f"metrics_bytes_before={len(before)}")
    print(f"metrics_bytes_after={len(after)}")
    print(f"metrics_bytes_again={len(again)}")
    print(f"rss_kb_before={rss_before}")
    print(f"rss_kb_after={rss_after}")
    print(f"rss_kb_again={rss_kb(pid)}")
    other = 'method="other"' in after.decode()
    print(f"other_label={other}")


class Attacker(threading.Thread):
    """One slow client: reconnects whenever the server closes its connection."""

    def __init__(self, host, port, interval, stop_at, reconnect):
        super().__init__(daemon=True)
        self.host, self.port, self.interval, self.stop_at = host, port, interval, stop_at
        self.reconnect = reconnect
        self.lifetimes = []
        self.open_at_end = False
        self.saw_408 = 0

    def run(self):
        while time.time() < self.stop_at:
            started = time.time()
            try:
                s = socket.create_connection((self.host, self.port), timeout=5)
                # The production interface: no per-address limit answers for the deadline.
                s.sendall(b"POST /koogallery/license HTTP/1.1\r\nHost: drill\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            except OSError:
                time.sleep(0.2)
                continue
            closed = False
            while time.time() < self.stop_at and not closed:
                s.settimeout(max(0.01, min(self.interval, self.stop_at - time.time())))
                try:
                    data = s.recv(4096)
                    if b" 408 " in data[:20]:
                        self.saw_408 += 1
                    closed = data == b"" or b"connection: close" in data.lower()
                except socket.timeout:
                    try:
                        s.sendall(b"x")
                    except OSError:
                        closed = True
                except OSError:
                    closed = True
            s.close()
            if not closed:
                self.open_at_end = True
                return
            self.lifetimes.append(time.time() - started)
            if not self.reconnect:
                return


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def slow(host, port, pid, connections, interval, duration, probe, reconnect):
    stop_at = time.time() + duration
    attackers = [Attacker(host, port, interval, stop_at, reconnect) for _ in range(connections)]
    for a in attackers:
        a.start()
    peak_fds = [0]

    def sample():
        while time.time() < stop_at:
            peak_fds[0] = max(peak_fds[0], open_fds(pid))
            time.sleep(1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    worst, failed, probes = 0.0, 0, 0
    if probe:
        time.sleep(min(2.0, duration / 4))
        while time.time() < stop_at - 1:
            started = time.time()
            try:
                status, _ = http(host, port, "GET", "/healthz", timeout=30)
                failed += status != 200
            except OSError:
                failed += 1
            worst = max(worst, time.time() - started)
            probes += 1
            time.sleep(1)
    for a in attackers:
        a.join(duration + 10)
    sampler.join(5)
    print(f"server_fds_peak={peak_fds[0]}")
    lifetimes = sorted(t for a in attackers for t in a.lifetimes)
    print(f"held_at_end={sum(a.open_at_end for a in attackers)}/{connections}")
    print(f"closed_by_server={len(lifetimes)}")
    print(f"answered_408={sum(a.saw_408 for a in attackers)}")
    if lifetimes:
        print(f"lifetime_s_median={lifetimes[len(lifetimes) // 2]:.1f}")
        print(f"lifetime_s_max={lifetimes[-1]:.1f}")
    if probe:
        print(f"healthz_probes={probes}")
        print(f"healthz_failed={failed}")
        print(f"healthz_slowest_s={worst:.2f}")


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "methods":
        methods(host, port, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "slow":
        slow(host, port, int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]),
             float(sys.argv[7]), sys.argv[8] == "1", sys.argv[9] == "1")
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
