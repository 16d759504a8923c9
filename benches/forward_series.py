"""Forwards side by side, from outside: throughput and new connections per second through each
local forward port, the forwards alternating, five rounds, medians (docs/performance.md#forward).

    python3 benches/forward_series.py NAME=LOCAL_PORT=PID ...

Each NAME is a running forward (`kubehop forward`, `kubectl port-forward`) listening on
127.0.0.1:LOCAL_PORT with process id PID (for its CPU time), in front of pods that echo bytes
that are not HTTP and answer HTTP requests (the sandbox's pods). Loopback only.
"""

import os
import socket
import statistics
import sys
import threading
import time

BULK = 256 << 20
SEQUENTIAL = 300
CLIENTS, EACH = 8, 50
ROUNDS = int(os.environ.get("ROUNDS", "5"))


def bulk(port, total=BULK):
    """MB/s of `total` bytes sent and echoed back on one connection (writer in a child process)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    started = time.time()
    pid = os.fork()
    if pid == 0:
        chunk, sent = b"\0" * 65536, 0
        while sent < total:
            s.sendall(chunk)
            sent += len(chunk)
        os._exit(0)
    buffer, received = bytearray(262144), 0
    while received < total:
        count = s.recv_into(buffer)
        assert count, f"the echo ended after {received} bytes"
        received += count
    took = time.time() - started
    os.waitpid(pid, 0)
    s.close()
    return total / took / 1e6


def one(port):
    """One new connection, one HTTP request, the answer read to its end."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        answer += data
    s.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]


def sequential(port):
    started = time.time()
    for _ in range(SEQUENTIAL):
        one(port)
    return SEQUENTIAL / (time.time() - started)


def parallel(port):
    started = time.time()
    threads = [threading.Thread(target=lambda: [one(port) for _ in range(EACH)]) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return CLIENTS * EACH / (time.time() - started)


def cpu(pid):
    """CPU seconds of all threads of `pid` so far."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    paths = {}
    for argument in sys.argv[1:]:
        name, port, pid = argument.split("=")
        paths[name] = (int(port), int(pid))
    names = list(paths)
    results = {name: {k: [] for k in ("MB/s", "seq/s", "par/s", "ms CPU/MB", "ms CPU/conn")} for name in names}
    print("load average", load(), flush=True)
    for round_ in range(ROUNDS):
        order = names[round_ % len(names):] + names[: round_ % len(names)]
        for name in order:
            port, pid = paths[name]
            before = cpu(pid)
            results[name]["MB/s"].append(bulk(port))
            results[name]["ms CPU/MB"].append((cpu(pid) - before) * 1e3 / (BULK / 1e6))
        for name in order:
            port, pid = paths[name]
            before = cpu(pid)
            results[name]["seq/s"].append(sequential(port))
            results[name]["par/s"].append(parallel(port))
            results[name]["ms CPU/conn"].append((cpu(pid) - before) * 1e3 / (SEQUENTIAL + CLIENTS * EACH))
        print("round", round_, {n: [round(results[n][k][-1]) for k in ("MB/s", "seq/s", "par/s")] for n in names}, flush=True)
    for name in names:
        figures = ", ".join(
            f"{k} {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" for k, v in results[name].items()
        )
        print(f"{name}: {figures}")
    if len(names) == 2:
        first, second = (results[n] for n in names)
        ratios = ", ".join(
            f"{k} {statistics.median(first[k]) / statistics.median(second[k]):.2f}x" for k in first
        )
        print(f"{names[0]} / {names[1]}: {ratios}")
    print("load average", load(), flush=True)


if __name__ == "__main__":
    main()
