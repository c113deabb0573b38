"""NetworkPolicy semantics (networking.k8s.io/v1), for checking rendered policies against a connection matrix
where no policy-enforcing CNI runs: a connection is allowed when the source's egress and the destination's
ingress both allow it. A pod no policy selects (for that direction) is open in that direction."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict = field(default_factory=dict, hash=False)
    name: str = "pod"


@dataclass(frozen=True)
class Address:
    """Something outside the cluster's pods: the API server, a bucket, the internet."""

    ip: str
    name: str = "address"


def selects(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def _peer_matches(peer: dict, policy_namespace: str, other: Pod | Address) -> bool:
    if "ipBlock" in peer:
        if not isinstance(other, Address):
            return False  # pod addresses in ipBlocks are implementation-defined: never count on them
        ip = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and \
            not any(ip in ipaddress.ip_network(e) for e in block.get("except") or [])
    if not isinstance(other, Pod):
        return False
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace})
    else:
        in_namespace = other.namespace == policy_namespace
    return in_namespace and selects(peer.get("podSelector"), other.labels)


def _port_matches(ports: list[dict] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        low = p["port"]
        if isinstance(low, str):
            raise ValueError(f"named port {low!r}: give numbers in policies under test")
        if low <= port <= p.get("endPort", low):
            return True
    return False


def _types(policy: dict) -> list[str]:
    spec = policy["spec"]
    return spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))


def _direction_allows(policies: list[dict], subject: Pod, other: Pod | Address, port: int, protocol: str,
                      direction: str) -> bool:
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [p for p in policies if p["metadata"].get("namespace") == subject.namespace
                 and direction in _types(p) and selects(p["spec"].get("podSelector") or {}, subject.labels)]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(peer, subject.namespace, other) for peer in peers)) \
                    and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def allowed(policies: list[dict], source: Pod | Address, destination: Pod | Address, port: int,
            protocol: str = "TCP") -> bool:
    egress = not isinstance(source, Pod) or _direction_allows(policies, source, destination, port, protocol,
                                                              "Egress")
    ingress = not isinstance(destination, Pod) or _direction_allows(policies, destination, source, port, protocol,
                                                                    "Ingress")
    return egress and ingress
