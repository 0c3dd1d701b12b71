"""The local cluster's DNS, as a pod on the real node sees it (CoreDNS on this machine, e2e/local).

The router the operator renders finds the engine replicas by the A records of a headless Service
(``<name>-engines.<namespace>.svc``, docs/router.md): a pod with the default dnsPolicy (ClusterFirst)
resolves such a name to exactly the ready pods behind it, a ClusterIP Service's short name to its
ClusterIP, and gets an answer at once (REFUSED: no forwarder, nothing leaves the machine) for a name
outside the cluster, never a timeout. Local cluster only (marked realnode, not kind: e2e/kind/run.sh
never selects it): kind runs CoreDNS as kubeadm deploys it.
"""

from __future__ import annotations

import json

import pytest

from localcluster import images, settings
from support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.controlplane, pytest.mark.realnode]

APP = "dns-probe"
HEADLESS = "probe-engines"  # as the operator names a router's headless Service: <name>-engines
CLUSTER_IP = "probe"
OUTSIDE = "huggingface.co"
REFUSED = 5  # the DNS rcode (RFC 1035)

# Run in the client pod: A records through the pod's resolver (resolv.conf, as any program resolves), and
# the rcode of one query for the outside name sent to its nameserver (a timeout would be None).
RESOLVE = r"""
import json, socket, struct, sys

def addresses(name):
    try:
        return sorted({a[4][0] for a in socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)})
    except socket.gaierror as e:
        return "error: %s" % e

def rcode(name, server):
    query = struct.pack(">HHHHHH", 0x6d66, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    query += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(query, (server, 53))
        try:
            return s.recv(512)[3] & 0x0F
        except socket.timeout:
            return None

resolv = open("/etc/resolv.conf").read().split("\n")
nameservers = [line.split()[1] for line in resolv if line.startswith("nameserver")]
search = [line.split()[1:] for line in resolv if line.startswith("search")]
headless, cluster_ip, outside = sys.argv[1:]
print(json.dumps({"nameservers": nameservers, "search": search[0] if search else [],
                  "headless": addresses(headless), "cluster_ip": addresses(cluster_ip),
                  "outside": addresses(outside), "outside_rcode": rcode(outside + ".", nameservers[0])}))
"""


def pod(name: str, ready: bool) -> dict:
    """A pod of the runtime image (cluster-up imports it) on the real node, sleeping; one whose readiness
    probe always fails stays Running and not Ready."""
    container = {"name": "c", "image": images.RUNTIME_IMAGE, "imagePullPolicy": "Never",
                 "command": ["python3", "-c", "import time; time.sleep(3600)"]}
    if not ready:
        container["readinessProbe"] = {"exec": {"command": ["python3", "-c", "raise SystemExit(1)"]},
                                       "periodSeconds": 1}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": APP}},
        "spec": {
            "nodeSelector": {"modelfleet.io/real-node": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
            "terminationGracePeriodSeconds": 0,
            "containers": [container],
        },
    }


def service(name: str, headless: bool) -> dict:
    spec: dict = {"selector": {"app": APP}, "ports": [{"port": 8000}]}
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def pods_by_name(target, namespace: str) -> dict[str, dict]:
    listed = target.kubectl("get", "pods", "-n", namespace, "-l", f"app={APP}", "-o", "json").stdout
    return {p["metadata"]["name"]: p for p in json.loads(listed)["items"]}


def settled(target, namespace: str) -> dict[str, dict] | None:
    """The pods once ready-0 and ready-1 are Ready and not-ready runs with an address but is not Ready."""
    found = pods_by_name(target, namespace)
    if set(found) != {"ready-0", "ready-1", "not-ready"}:
        return None
    if is_ready(found["ready-0"]) and is_ready(found["ready-1"]) and running_not_ready(found["not-ready"]):
        return found
    return None


def is_ready(p: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))


def running_not_ready(p: dict) -> bool:
    return p["status"].get("phase") == "Running" and bool(p["status"].get("podIP")) and not is_ready(p)


def test_a_pod_resolves_ready_endpoints_a_cluster_ip_and_is_refused_outside(target, namespace):
    manifests = [pod("ready-0", True), pod("ready-1", True), pod("not-ready", False),
                 service(HEADLESS, headless=True), service(CLUSTER_IP, headless=False)]
    target.kubectl("apply", "-n", namespace, "-f", "-", input="\n---\n".join(json.dumps(m) for m in manifests))
    pods = wait_for("two pods Ready and one Running but not Ready", lambda: settled(target, namespace), 120)
    ready_ips = sorted(pods[n]["status"]["podIP"] for n in ("ready-0", "ready-1"))
    cluster_ip = target.kubectl("get", "service", CLUSTER_IP, "-n", namespace, "-o",
                                "jsonpath={.spec.clusterIP}").stdout

    def resolved() -> dict:
        out = target.kubectl("exec", "-n", namespace, "ready-0", "--", "python3", "-c", RESOLVE,
                             f"{HEADLESS}.{namespace}.svc", CLUSTER_IP, OUTSIDE).stdout
        return json.loads(out)

    # CoreDNS follows the EndpointSlices as the API server streams them: poll until it has caught up.
    answer = wait_for(f"{HEADLESS}.{namespace}.svc to resolve to the ready pods {ready_ips}",
                      lambda: (a if (a := resolved())["headless"] == ready_ips else None), 60)
    assert answer["nameservers"] == [settings.CLUSTER_DNS_IP]
    assert answer["search"][:3] == [f"{namespace}.svc.{settings.CLUSTER_DOMAIN}", f"svc.{settings.CLUSTER_DOMAIN}",
                                    settings.CLUSTER_DOMAIN]
    assert pods["not-ready"]["status"]["podIP"] not in answer["headless"]
    assert answer["cluster_ip"] == [cluster_ip]
    assert answer["outside_rcode"] == REFUSED, answer
    assert answer["outside"].startswith("error:"), answer
