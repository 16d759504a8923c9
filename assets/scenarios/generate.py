#!/usr/bin/env python3
"""Writes the scenario dumps in this folder (run: python3 assets/scenarios/generate.py).

Every file is what `kubectl get svc,endpointslices,pods,nodes,ingress -A -o yaml` prints for a
small cluster (a `v1 List`, keys sorted, server-defaulted fields, status), except the
manifest-style parts named below. One world is built here; each scenario file is the slice of
it that shows one concept, and demo-all.yaml is all of it. EndpointSlices are computed from the
pods by the EndpointSlice controller's rules (spec rules A2-A10, B1-B6), so slices, pod
readiness and node zones agree the way a real controller would write them.

Addresses are all in 127.0.0.0/8: nodes 127.0.1.N, pods 127.1.N.x (N = node), ClusterIPs
127.10.0.x, LoadBalancer and Ingress IPs 127.20.0.x, addresses outside the cluster 127.40.0.x.

Needs PyYAML (python3 -m pip install pyyaml). Output is deterministic.
"""

import hashlib
import os
import uuid

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
KUBE_VERSION = "v1.34.1"
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# ---------------------------------------------------------------------------------------------
# YAML in kubectl's style: sorted keys, sequences not indented under their key, strings that
# would read as another type in double quotes.


class KubectlDumper(yaml.SafeDumper):
    def choose_scalar_style(self):
        style = super().choose_scalar_style()
        return '"' if style == "'" else style

    def ignore_aliases(self, data):
        # kubectl never writes anchors; shared Python objects must be written out in full.
        return True


def _str(dumper, value):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


KubectlDumper.add_representer(str, _str)


def dump(document):
    return yaml.dump(
        document,
        Dumper=KubectlDumper,
        sort_keys=True,
        default_flow_style=False,
        width=4096,
        allow_unicode=True,
    )


# ---------------------------------------------------------------------------------------------
# Deterministic identities.


def uid(*parts):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "kubehop-scenario/" + "/".join(parts)))


def suffix(seed, length):
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:length])


def hexid(seed, length=64):
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


class Clock:
    """resourceVersions go up in creation order, as in etcd."""

    def __init__(self):
        self.version = 41000

    def next(self):
        self.version += 17
        return str(self.version)


CLOCK = Clock()

T_NODES = "2025-05-12T08:00:00Z"
T_NAMESPACES = "2025-05-12T08:05:00Z"
T_APPS = "2025-06-02T09:14:00Z"
T_PODS = "2025-06-02T09:14:05Z"
T_STARTED = "2025-06-02T09:14:09Z"
T_READY = "2025-06-02T09:14:14Z"
T_DELETING = "2025-06-02T11:40:31Z"


# ---------------------------------------------------------------------------------------------
# The world.

NODES = [
    # name, zone, InternalIP, pod CIDR
    ("node-1", "zone-a", "127.0.1.1", "127.1.1.0/24"),
    ("node-2", "zone-a", "127.0.1.2", "127.1.2.0/24"),
    ("node-3", "zone-b", "127.0.1.3", "127.1.3.0/24"),
]
NODE_ZONE = {name: zone for name, zone, _, _ in NODES}
NODE_IP = {name: ip for name, _, ip, _ in NODES}


class World:
    def __init__(self):
        self.objects = []  # (tags, object)
        self.next_pod_host = {name: 10 for name, _, _, _ in NODES}
        self.next_cluster_ip = 10
        self.next_lb_ip = 1

    def add(self, tags, obj):
        self.objects.append((set(tags), obj))
        return obj

    def pod_ip(self, node):
        index = NODES.index(next(n for n in NODES if n[0] == node)) + 1
        host = self.next_pod_host[node]
        self.next_pod_host[node] += 1
        return f"127.1.{index}.{host}"

    def cluster_ip(self):
        ip = f"127.10.0.{self.next_cluster_ip}"
        self.next_cluster_ip += 1
        return ip

    def lb_ip(self):
        ip = f"127.20.0.{self.next_lb_ip}"
        self.next_lb_ip += 1
        return ip

    def of_kind(self, kind):
        return [o for _, o in self.objects if o["kind"] == kind]


def metadata(kind, namespace, name, created, labels=None, annotations=None, extra=None):
    meta = {
        "creationTimestamp": created,
        "name": name,
        "resourceVersion": CLOCK.next(),
        "uid": uid(kind, namespace or "", name),
    }
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    if extra:
        meta.update(extra)
    return meta


def node(name, zone, ip, cidr):
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": metadata(
            "Node",
            None,
            name,
            T_NODES,
            labels={
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/region": "region-1",
                "topology.kubernetes.io/zone": zone,
            },
            annotations={
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        ),
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "addresses": [
                {"address": ip, "type": "InternalIP"},
                {"address": name, "type": "Hostname"},
            ],
            "allocatable": {
                "cpu": "4",
                "ephemeral-storage": "95001024Ki",
                "hugepages-2Mi": "0",
                "memory": "16283944Ki",
                "pods": "110",
            },
            "capacity": {
                "cpu": "4",
                "ephemeral-storage": "103078840Ki",
                "hugepages-2Mi": "0",
                "memory": "16386344Ki",
                "pods": "110",
            },
            "conditions": [
                node_condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                               "kubelet has sufficient memory available"),
                node_condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                               "kubelet has no disk pressure"),
                node_condition("PIDPressure", "False", "KubeletHasSufficientPID",
                               "kubelet has sufficient PID available"),
                node_condition("Ready", "True", "KubeletReady",
                               "kubelet is posting ready status"),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": uid("boot", name),
                "containerRuntimeVersion": "containerd://2.1.1",
                "kernelVersion": "6.1.0-37-amd64",
                "kubeProxyVersion": KUBE_VERSION,
                "kubeletVersion": KUBE_VERSION,
                "machineID": hexid("machine" + name, 32),
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": uid("system", name),
            },
        },
    }


def node_condition(kind, status, reason, message):
    return {
        "lastHeartbeatTime": "2025-06-02T11:52:10Z",
        "lastTransitionTime": T_NODES,
        "message": message,
        "reason": reason,
        "status": status,
        "type": kind,
    }


def namespace(name):
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata(
            "Namespace", None, name, T_NAMESPACES,
            labels={"kubernetes.io/metadata.name": name},
        ),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def container(name, image, ports, readiness_path=None):
    c = {
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "name": name,
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [{
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            "name": "kube-api-access",
            "readOnly": True,
        }],
    }
    if ports:
        c["ports"] = [
            {"containerPort": number, "name": port_name, "protocol": protocol}
            for port_name, number, protocol in ports
        ]
    if readiness_path:
        first = ports[0]
        c["readinessProbe"] = {
            "failureThreshold": 3,
            "httpGet": {"path": readiness_path, "port": first[0], "scheme": "HTTP"},
            "periodSeconds": 10,
            "successThreshold": 1,
            "timeoutSeconds": 1,
        }
    return c


def full_image(image):
    """How containerd reports an image reference."""
    slashes = image.count("/")
    if slashes == 0:
        return "docker.io/library/" + image
    if slashes == 1 and "." not in image.split("/")[0]:
        return "docker.io/" + image
    return image


def pod(world, tags, ns, name, labels, owner, node_name, containers, ready=True,
        deleting=False, hostname=None, subdomain=None):
    """A running pod as the kubelet reports it. `owner` is (kind, name, apiVersion)."""
    owner_kind, owner_name, owner_api = owner
    ip = world.pod_ip(node_name)
    volume_name = "kube-api-access-" + suffix("vol" + name, 5)
    for c in containers:
        c["volumeMounts"][0]["name"] = volume_name
    extra = {
        "ownerReferences": [{
            "apiVersion": owner_api,
            "blockOwnerDeletion": True,
            "controller": True,
            "kind": owner_kind,
            "name": owner_name,
            "uid": uid(owner_kind, ns, owner_name),
        }],
    }
    if owner_kind == "ReplicaSet":
        extra["generateName"] = owner_name + "-"
    if deleting:
        extra["deletionGracePeriodSeconds"] = 30
        extra["deletionTimestamp"] = T_DELETING
    spec = {
        "containers": containers,
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "nodeName": node_name,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready",
             "operator": "Exists", "tolerationSeconds": 300},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable",
             "operator": "Exists", "tolerationSeconds": 300},
        ],
        "volumes": [{
            "name": volume_name,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}],
                                   "name": "kube-root-ca.crt"}},
                    {"downwardAPI": {"items": [{
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        "path": "namespace"}]}},
                ],
            },
        }],
    }
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    unready = [c["name"] for c in containers] if not ready else []
    ready_status = "True" if ready else "False"

    def condition(kind, status, transition, reason=None, message=None):
        cond = {"lastProbeTime": None, "lastTransitionTime": transition,
                "status": status, "type": kind}
        if reason:
            cond["reason"] = reason
            cond["message"] = message
        return cond

    not_ready_message = f"containers with unready status: [{' '.join(unready)}]"
    status = {
        "conditions": [
            condition("PodReadyToStartContainers", "True", T_STARTED),
            condition("Initialized", "True", T_PODS),
            condition("Ready", ready_status, T_READY if ready else T_PODS,
                      None if ready else "ContainersNotReady",
                      None if ready else not_ready_message),
            condition("ContainersReady", ready_status, T_READY if ready else T_PODS,
                      None if ready else "ContainersNotReady",
                      None if ready else not_ready_message),
            condition("PodScheduled", "True", T_PODS),
        ],
        "containerStatuses": [{
            "containerID": "containerd://" + hexid("ctr" + ns + name + c["name"]),
            "image": full_image(c["image"]),
            "imageID": full_image(c["image"]).split(":")[0] + "@sha256:" + hexid("img" + c["image"]),
            "lastState": {},
            "name": c["name"],
            "ready": ready,
            "restartCount": 0,
            "started": True,
            "state": {"running": {"startedAt": T_STARTED}},
        } for c in containers],
        "hostIP": NODE_IP[node_name],
        "hostIPs": [{"ip": NODE_IP[node_name]}],
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "qosClass": "BestEffort",
        "startTime": T_PODS,
    }
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata("Pod", ns, name, T_PODS, labels=labels, extra=extra),
        "spec": spec,
        "status": status,
    }
    return world.add(tags, obj)


def deployment_pods(world, tags, ns, app, nodes, containers, labels=None, ready=True,
                    deleting=False):
    """Pods of a Deployment `app`: one per entry of `nodes` (a node name)."""
    template_hash = suffix("rs" + ns + app, 10)
    replica_set = f"{app}-{template_hash}"
    pod_labels = dict(labels or {"app": app})
    pod_labels["pod-template-hash"] = template_hash
    pods = []
    for index, node_name in enumerate(nodes):
        name = f"{replica_set}-{suffix(replica_set + str(index), 5)}"
        ready_now = ready[index] if isinstance(ready, list) else ready
        pods.append(pod(world, tags, ns, name, pod_labels,
                        ("ReplicaSet", replica_set, "apps/v1"), node_name,
                        [dict(c, volumeMounts=[dict(m) for m in c["volumeMounts"]])
                         for c in containers],
                        ready=ready_now, deleting=deleting))
    return pods


def service_port(name, port, target, protocol="TCP", node_port=None):
    p = {"port": port, "protocol": protocol, "targetPort": target}
    if name is not None:
        p["name"] = name
    if node_port is not None:
        p["nodePort"] = node_port
    return p


def service(world, tags, ns, name, ports, selector=None, kind="ClusterIP", labels=None,
            headless=False, etp=None, health_check_node_port=None, lb_ingress=None,
            external_name=None):
    spec = {"sessionAffinity": "None", "type": kind, "ports": ports}
    if kind == "ExternalName":
        spec["externalName"] = external_name
    else:
        ip = "None" if headless else world.cluster_ip()
        spec.update({
            "clusterIP": ip,
            "clusterIPs": [ip],
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
        })
    if selector is not None:
        spec["selector"] = dict(selector)
    if kind in ("NodePort", "LoadBalancer"):
        spec["externalTrafficPolicy"] = etp or "Cluster"
    if kind == "LoadBalancer":
        spec["allocateLoadBalancerNodePorts"] = True
    if health_check_node_port:
        spec["healthCheckNodePort"] = health_check_node_port
    status = {"loadBalancer": {}}
    if lb_ingress:
        status["loadBalancer"] = {"ingress": [{"ip": ip_, "ipMode": "VIP"} for ip_ in lb_ingress]}
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("Service", ns, name, T_APPS, labels=labels or {"app": name}),
        "spec": spec,
        "status": status,
    }
    return world.add(tags, obj)


# ---------------------------------------------------------------------------------------------
# The EndpointSlice controller (spec rules A2-A10, B1-B6), for one Service.


def resolve_port(pod_obj, service_port_):
    target = service_port_.get("targetPort", service_port_["port"])
    if isinstance(target, int):
        return target
    protocol = service_port_.get("protocol", "TCP")
    for c in pod_obj["spec"]["containers"]:
        for p in c.get("ports", []):
            if p.get("name") == target and p.get("protocol", "TCP") == protocol:
                return p["containerPort"]
    return None


def controller_slices(world, tags, svc):
    ns = svc["metadata"]["namespace"]
    name = svc["metadata"]["name"]
    selector = svc["spec"]["selector"]
    headless = svc["spec"].get("clusterIP") == "None"
    pnra = svc["spec"].get("publishNotReadyAddresses", False)
    candidates = [
        p for p in world.of_kind("Pod")
        if p["metadata"]["namespace"] == ns
        and all(p["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
        and p["status"]["phase"] not in ("Succeeded", "Failed")
        and p["status"].get("podIP")
    ]
    groups = {}
    for p in sorted(candidates, key=lambda p: p["metadata"]["name"]):
        ports = []
        for sp in svc["spec"]["ports"]:
            number = resolve_port(p, sp)
            if number is None:
                continue  # B4: this Service port is left out for this pod
            port = {"name": sp.get("name", ""), "port": number,
                    "protocol": sp.get("protocol", "TCP")}
            if "appProtocol" in sp:
                port["appProtocol"] = sp["appProtocol"]
            ports.append(port)
        serving = next(c["status"] for c in p["status"]["conditions"]
                       if c["type"] == "Ready") == "True"
        terminating = "deletionTimestamp" in p["metadata"]
        endpoint = {
            "addresses": [p["status"]["podIP"]],
            "conditions": {
                "ready": pnra or (serving and not terminating),
                "serving": serving,
                "terminating": terminating,
            },
            "nodeName": p["spec"]["nodeName"],
            "targetRef": {"kind": "Pod", "name": p["metadata"]["name"],
                          "namespace": ns, "uid": p["metadata"]["uid"]},
            "zone": NODE_ZONE[p["spec"]["nodeName"]],
        }
        if p["spec"].get("hostname") and p["spec"].get("subdomain") == name:
            endpoint["hostname"] = p["spec"]["hostname"]
        key = tuple((q["name"], q["port"], q["protocol"]) for q in ports)
        groups.setdefault(key, ([], ports))[0].append(endpoint)
    if not groups:
        groups[()] = ([], [])  # A9: the placeholder slice
    labels = dict(svc["metadata"].get("labels", {}))
    labels.update({
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        "kubernetes.io/service-name": name,
    })
    if headless:
        labels["service.kubernetes.io/headless"] = ""
    slices = []
    for index, (endpoints, ports) in enumerate(groups.values()):
        slice_name = f"{name}-{suffix('slice' + ns + name + str(index), 5)}"
        obj = {
            "addressType": "IPv4",
            "apiVersion": "discovery.k8s.io/v1",
            # The API server stores empty lists as null; kubectl prints them so.
            "endpoints": endpoints or None,
            "kind": "EndpointSlice",
            "metadata": metadata(
                "EndpointSlice", ns, slice_name, T_APPS, labels=labels,
                annotations={"endpoints.kubernetes.io/last-change-trigger-time": T_READY},
                extra={
                    "generateName": name + "-",
                    "generation": 1 + len(endpoints),
                    "ownerReferences": [{
                        "apiVersion": "v1",
                        "blockOwnerDeletion": True,
                        "controller": True,
                        "kind": "Service",
                        "name": name,
                        "uid": svc["metadata"]["uid"],
                    }],
                },
            ),
            "ports": ports or None,
        }
        slices.append(world.add(tags, obj))
    return slices


def ingress(world, tags, ns, name, host, paths, lb_ip):
    rule_paths = []
    for path, service_name, port in paths:
        port_ref = {"number": port} if isinstance(port, int) else {"name": port}
        rule_paths.append({
            "backend": {"service": {"name": service_name, "port": port_ref}},
            "path": path,
            "pathType": "Prefix",
        })
    obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata("Ingress", ns, name, T_APPS, extra={"generation": 1}),
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": host, "http": {"paths": rule_paths}}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": lb_ip}]}},
    }
    return world.add(tags, obj)


# ---------------------------------------------------------------------------------------------
# The scenarios.

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.53"


def http_container(name, image=AGNHOST, port_name="http", number=8080, extra_ports=(),
                   readiness_path="/healthz"):
    c = container(name, image, [(port_name, number, "TCP"), *extra_ports], readiness_path)
    if image == AGNHOST:
        c["args"] = ["netexec", f"--http-port={number}"]
    return c


def build():
    world = World()
    # Every scenario shows the same three nodes (two zones).
    every = set(SCENARIOS)
    for name, zone, ip, cidr in NODES:
        world.add(every, node(name, zone, ip, cidr))

    # web-ingress: a Deployment's 3 pods behind a ClusterIP Service, reached from an Ingress.
    tags = {"web-ingress"}
    deployment_pods(world, tags, "shop", "web", ["node-1", "node-2", "node-3"],
                    [http_container("web", "nginxinc/nginx-unprivileged:1.27", readiness_path="/")])
    web = service(world, tags, "shop", "web", [service_port("http", 80, "http")], {"app": "web"})
    controller_slices(world, tags, web)
    ingress(world, tags, "shop", "shop", "shop.example.test",
            [("/", "web", "http"), ("/static", "web", 80)], world.lb_ip())

    # mongodb: a StatefulSet pod with a metrics sidecar; a two-port Service with named ports,
    # and a headless Service whose name is the pod's subdomain (per-pod DNS name).
    tags = {"mongodb"}
    pod(world, tags, "data", "mongodb-0",
        {"app.kubernetes.io/instance": "mongodb", "app.kubernetes.io/name": "mongodb",
         "apps.kubernetes.io/pod-index": "0",
         "controller-revision-hash": "mongodb-" + suffix("mongodb-rev", 10),
         "statefulset.kubernetes.io/pod-name": "mongodb-0"},
        ("StatefulSet", "mongodb", "apps/v1"), "node-2",
        [container("mongodb", "bitnami/mongodb:8.0.4", [("mongodb", 27017, "TCP")]),
         container("metrics", "bitnami/mongodb-exporter:0.43.1", [("metrics", 9216, "TCP")])],
        hostname="mongodb-0", subdomain="mongodb-headless")
    mongo_selector = {"app.kubernetes.io/instance": "mongodb", "app.kubernetes.io/name": "mongodb"}
    mongo_labels = dict(mongo_selector)
    mongodb = service(world, tags, "data", "mongodb",
                      [service_port("mongodb", 27017, "mongodb"),
                       service_port("metrics", 9216, "metrics")],
                      mongo_selector, labels=mongo_labels)
    controller_slices(world, tags, mongodb)
    headless = service(world, tags, "data", "mongodb-headless",
                       [service_port("mongodb", 27017, "mongodb")],
                       mongo_selector, labels=mongo_labels, headless=True)
    controller_slices(world, tags, headless)

    # nodeport: mynodeportservice 80 -> 8080, nodePort 31852, pods on all three nodes.
    tags = {"nodeport"}
    deployment_pods(world, tags, "default", "hello", ["node-1", "node-2", "node-3"],
                    [http_container("hello")])
    nodeport = service(world, tags, "default", "mynodeportservice",
                       [service_port(None, 80, 8080, node_port=31852)], {"app": "hello"},
                       kind="NodePort", labels={"app": "hello"})
    controller_slices(world, tags, nodeport)

    # loadbalancer: a LoadBalancer Service with an ingress IP (ipMode VIP) and nodePorts.
    tags = {"loadbalancer"}
    deployment_pods(world, tags, "edge", "frontend", ["node-1", "node-3"],
                    [http_container("frontend", extra_ports=[("https", 8443, "TCP")])])
    frontend = service(world, tags, "edge", "frontend",
                       [service_port("http", 80, "http", node_port=30080),
                        service_port("https", 443, "https", node_port=30443)],
                       {"app": "frontend"}, kind="LoadBalancer", lb_ingress=[world.lb_ip()])
    controller_slices(world, tags, frontend)

    # selector-mismatch: the selector says invoice-api, the pods say invoices-api.
    tags = {"selector-mismatch"}
    deployment_pods(world, tags, "billing", "invoices", ["node-1", "node-2"],
                    [http_container("invoices")], labels={"app": "invoices-api"})
    invoices = service(world, tags, "billing", "invoices", [service_port("http", 80, "http")],
                       {"app": "invoice-api"})
    controller_slices(world, tags, invoices)

    # selector-partial: the selector wants app=blog AND tier=frontend, pods carry only app=blog.
    tags = {"selector-partial"}
    deployment_pods(world, tags, "blog", "blog", ["node-2", "node-3"],
                    [http_container("blog")])
    blog = service(world, tags, "blog", "blog", [service_port("http", 80, "http")],
                   {"app": "blog", "tier": "frontend"})
    controller_slices(world, tags, blog)

    # named-port-missing: targetPort "http", but the container calls its port "web".
    tags = {"named-port-missing"}
    deployment_pods(world, tags, "search", "search", ["node-1", "node-3"],
                    [http_container("search", port_name="web",
                                    extra_ports=[("metrics", 9090, "TCP")],
                                    readiness_path="/ready")])
    search = service(world, tags, "search", "search",
                     [service_port("http", 80, "http"), service_port("metrics", 9090, "metrics")],
                     {"app": "search"})
    controller_slices(world, tags, search)

    # pods-not-ready: both pods run, but fail their readiness probe.
    tags = {"pods-not-ready"}
    deployment_pods(world, tags, "orders", "orders", ["node-2", "node-3"],
                    [http_container("orders")], ready=False)
    orders = service(world, tags, "orders", "orders", [service_port("http", 80, 8080)],
                     {"app": "orders"})
    controller_slices(world, tags, orders)

    # terminating-only: both pods are being deleted; one still passes readiness (serving).
    tags = {"terminating-only"}
    deployment_pods(world, tags, "cart", "cart", ["node-1", "node-2"],
                    [http_container("cart")], ready=[True, False], deleting=True)
    cart = service(world, tags, "cart", "cart", [service_port("http", 80, "http")],
                   {"app": "cart"})
    controller_slices(world, tags, cart)

    # etp-local-drops: externalTrafficPolicy Local, both pods on node-1: node-2 and node-3
    # drop NodePort/LoadBalancer traffic.
    tags = {"etp-local-drops"}
    deployment_pods(world, tags, "edge", "gateway", ["node-1", "node-1"],
                    [http_container("gateway")])
    gateway = service(world, tags, "edge", "gateway",
                      [service_port("http", 80, "http", node_port=31080)], {"app": "gateway"},
                      kind="LoadBalancer", etp="Local", health_check_node_port=32080,
                      lb_ingress=[world.lb_ip()])
    controller_slices(world, tags, gateway)

    # lb-pending: type LoadBalancer, no load balancer controller filled in the status.
    tags = {"lb-pending"}
    deployment_pods(world, tags, "edge", "preview", ["node-2"], [http_container("preview")])
    preview = service(world, tags, "edge", "preview",
                      [service_port("http", 80, "http", node_port=30880)], {"app": "preview"},
                      kind="LoadBalancer")
    controller_slices(world, tags, preview)

    # multiport-unnamed: the pods are real; the Service is a manifest the API server rejects
    # (two ports, one without a name), so it is a separate document without status.
    tags = {"multiport-unnamed"}
    deployment_pods(world, tags, "dns", "dns-cache", ["node-1", "node-3"],
                    [container("dns-cache", "coredns/coredns:1.12.1",
                               [("dns", 5353, "UDP"), ("dns-tcp", 5353, "TCP")])])

    # selectorless: one Service with a hand-written EndpointSlice, one without.
    tags = {"selectorless"}
    external_db = service(world, tags, "legacy", "external-db",
                          [service_port("postgres", 5432, 5432)], None,
                          labels={"app": "external-db"})
    world.add(tags, {
        "addressType": "IPv4",
        "apiVersion": "discovery.k8s.io/v1",
        "endpoints": [
            {"addresses": ["127.40.0.5"], "conditions": {"ready": True}},
            {"addresses": ["127.40.0.6"], "conditions": {}},
        ],
        "kind": "EndpointSlice",
        "metadata": metadata(
            "EndpointSlice", "legacy", "external-db-1", T_APPS,
            labels={"endpointslice.kubernetes.io/managed-by": "staff",
                    "kubernetes.io/service-name": "external-db"},
            extra={"generation": 1},
        ),
        "ports": [{"name": "postgres", "port": 5432, "protocol": "TCP"}],
    })
    assert external_db
    service(world, tags, "legacy", "legacy-api", [service_port("http", 80, 8080)], None,
            labels={"app": "legacy-api"})

    # externalname: a DNS CNAME, no proxying.
    tags = {"externalname"}
    service(world, tags, "legacy", "payments", [service_port("https", 443, 443)],
            kind="ExternalName", external_name="payments.example.test",
            labels={"app": "payments"})

    # ingress-missing-service: one good path, one to a missing Service, one to a missing port.
    tags = {"ingress-missing-service"}
    deployment_pods(world, tags, "docs", "docs", ["node-2", "node-3"],
                    [http_container("docs")])
    docs = service(world, tags, "docs", "docs", [service_port("http", 80, "http")],
                   {"app": "docs"})
    controller_slices(world, tags, docs)
    ingress(world, tags, "docs", "docs", "docs.example.test",
            [("/", "docs", "http"), ("/search", "docs-search", 80), ("/v1", "docs", 8080)],
            world.lb_ip())

    # no-slices: pods and a Service, but the dump has no EndpointSlices at all.
    tags = {"no-slices"}
    deployment_pods(world, tags, "catalog", "catalog", ["node-1", "node-2"],
                    [http_container("catalog")])
    service(world, tags, "catalog", "catalog", [service_port("http", 80, "http")],
            {"app": "catalog"})
    return world


def multiport_manifests():
    """The Deployment and the rejected Service of multiport-unnamed, as a user wrote them."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "dns-cache", "namespace": "dns"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "dns-cache"}},
            "template": {
                "metadata": {"labels": {"app": "dns-cache"}},
                "spec": {"containers": [{
                    "name": "dns-cache",
                    "image": "coredns/coredns:1.12.1",
                    "ports": [
                        {"name": "dns", "containerPort": 5353, "protocol": "UDP"},
                        {"name": "dns-tcp", "containerPort": 5353, "protocol": "TCP"},
                    ],
                }]},
            },
        },
    }
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "dns-cache", "namespace": "dns"},
        "spec": {
            "selector": {"app": "dns-cache"},
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353},
                {"port": 53, "protocol": "TCP", "targetPort": 5353},
            ],
        },
    }
    return [deployment, svc]


SCENARIOS = {
    "web-ingress": "A web Deployment's 3 pods behind a ClusterIP Service, reached from an Ingress.",
    "mongodb": "A mongodb StatefulSet pod with a metrics sidecar: a two-port Service with named "
               "ports and a headless Service (hostname/subdomain).",
    "nodeport": "NodePort Service mynodeportservice: port 80 -> targetPort 8080, nodePort 31852, "
                "3 nodes in 2 zones.",
    "loadbalancer": "A LoadBalancer Service with an ingress IP (ipMode VIP) and nodePorts.",
    "selector-mismatch": "The selector (app=invoice-api) matches no pod (pods: app=invoices-api).",
    "selector-partial": "The selector wants app=blog,tier=frontend; the pods carry only app=blog.",
    "named-port-missing": "targetPort http is not declared by the pods (they call it web); "
                          "the metrics port still works.",
    "pods-not-ready": "Both pods run but fail their readiness probe.",
    "terminating-only": "Both pods are being deleted; one still passes readiness (serving).",
    "etp-local-drops": "externalTrafficPolicy Local with both pods on node-1: node-2 and node-3 "
                       "drop NodePort/LoadBalancer traffic.",
    "lb-pending": "type LoadBalancer without an ingress in status.",
    "multiport-unnamed": "A manifest-style dump: a Deployment and a two-port Service with an "
                         "unnamed port (the API server rejects it), plus the real pods.",
    "selectorless": "external-db has no selector and a hand-written EndpointSlice; legacy-api has "
                    "neither selector nor EndpointSlice.",
    "externalname": "An ExternalName Service: a DNS CNAME, no proxying.",
    "ingress-missing-service": "An Ingress with one good path, one to a missing Service and one "
                               "to a port the Service does not have.",
    "no-slices": "Pods and a Service but no EndpointSlices in the dump: the engine derives them.",
}

KIND_ORDER = ["Namespace", "Service", "EndpointSlice", "Pod", "Node", "Ingress"]


def as_list(objects):
    def key(o):
        return (KIND_ORDER.index(o["kind"]), o["metadata"].get("namespace", ""),
                o["metadata"]["name"])
    return {
        "apiVersion": "v1",
        "items": sorted(objects, key=key),
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }


def header(lines):
    return "".join(f"# {line}\n" if line else "#\n" for line in lines)


def write(name, text):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        f.write(text)


def main():
    world = build()
    command = "kubectl get svc,endpointslices,pods,nodes,ingress -A -o yaml"
    for scenario, summary in SCENARIOS.items():
        objects = [o for tags, o in world.objects if scenario in tags]
        text = header([f"Scenario {scenario}: {summary}",
                       f"Form: {command} (see README.md; generated by generate.py)."])
        if scenario == "multiport-unnamed":
            text = header([f"Scenario {scenario}: {summary}",
                           "Form: multi-document YAML: manifests as applied, then `kubectl get "
                           "pods,nodes -n dns -o yaml` (no EndpointSlices)."])
            docs = multiport_manifests() + [as_list(objects)]
            text += "".join("---\n" + dump(doc) for doc in docs)
        else:
            text += dump(as_list(objects))
        write(f"{scenario}.yaml", text)

    namespaces = sorted({o["metadata"]["namespace"] for _, o in world.objects
                         if "namespace" in o["metadata"]})
    everything = [namespace(ns) for ns in namespaces] + [o for _, o in world.objects]
    text = header([
        "Scenario demo-all: every scenario of this folder in one cluster (the seed world).",
        f"Form: kubectl get ns,svc,endpointslices,pods,nodes,ingress -A -o yaml, then the "
        "manifest of",
        "the Service the API server rejected (multiport-unnamed) as a second document.",
        "The no-slices Service (catalog/catalog) has no EndpointSlice here either.",
    ])
    text += "---\n" + dump(as_list(everything))
    text += "---\n" + dump(multiport_manifests()[1])
    write("demo-all.yaml", text)


if __name__ == "__main__":
    main()
