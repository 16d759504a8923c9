"""The official Python client against the sandbox: list, watch, port-forward.

Usage: kubernetes_client.py KUBECONFIG NAMESPACE APP PORT

Prints one line per step on stdout for the test that runs it:
  listed POD...            the pods labelled app=APP
  watching                 a watch from the list's resourceVersion is open (the test now
                           labels a pod changed=yes)
  watched POD              the watch delivered that change
  echoed N                 N bytes sent through a port-forward to POD:PORT came back
  answered POD             an HTTP request through the port-forward was answered by POD
Anything unexpected raises, and the exit status is not 0.
"""

import sys

from kubernetes import client, config, watch
from kubernetes.stream import portforward


def say(*words):
    print(*words, flush=True)


def receive_exactly(sock, count):
    received = bytearray()
    while len(received) < count:
        chunk = sock.recv(count - len(received))
        if not chunk:
            raise RuntimeError(f"the stream ended after {len(received)} of {count} bytes")
        received += chunk
    return bytes(received)


def receive_to_end(sock):
    received = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(received)
        received += chunk


def list_and_watch(api, namespace, app):
    pods = api.list_namespaced_pod(namespace, label_selector=f"app={app}")
    names = sorted(p.metadata.name for p in pods.items)
    if not names:
        raise RuntimeError(f"no pods labelled app={app}")
    say("listed", *names)
    stream = watch.Watch().stream(
        api.list_namespaced_pod,
        namespace,
        label_selector=f"app={app}",
        resource_version=pods.metadata.resource_version,
        timeout_seconds=60,
    )
    say("watching")
    for event in stream:
        pod = event["object"]
        if event["type"] == "MODIFIED" and (pod.metadata.labels or {}).get("changed") == "yes":
            say("watched", pod.metadata.name)
            return names
    raise RuntimeError("the watch ended before the change")


def forward(api, namespace, name, port):
    # Not HTTP (a NUL first), so the sandbox's pod echoes it.
    payload = bytes([0]) + bytes(i % 251 for i in range(1, 1 << 20))
    forwarder = portforward(
        api.connect_get_namespaced_pod_portforward, name, namespace, ports=str(port)
    )
    sock = forwarder.socket(port)
    sock.setblocking(True)
    sock.sendall(payload)
    echoed = receive_exactly(sock, len(payload))
    if echoed != payload:
        raise RuntimeError("the echo differs from what was sent")
    say("echoed", len(echoed))
    sock.close()
    if forwarder.error(port):
        raise RuntimeError(f"error channel: {forwarder.error(port)}")

    forwarder = portforward(
        api.connect_get_namespaced_pod_portforward, name, namespace, ports=str(port)
    )
    sock = forwarder.socket(port)
    sock.setblocking(True)
    sock.sendall(b"GET /python HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n")
    answer = receive_to_end(sock).decode()
    if not answer.startswith("HTTP/1.1 200 OK"):
        raise RuntimeError(f"unexpected answer: {answer!r}")
    pod = next(
        line.split(": ", 1)[1]
        for line in answer.split("\r\n")
        if line.lower().startswith("x-kubehop-pod: ")
    )
    say("answered", pod)
    forwarder.close()


def main():
    kubeconfig, namespace, app, port = sys.argv[1:5]
    config.load_kube_config(config_file=kubeconfig)
    api = client.CoreV1Api()
    names = list_and_watch(api, namespace, app)
    forward(api, namespace, names[0], int(port))


if __name__ == "__main__":
    main()
