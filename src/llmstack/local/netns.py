"""Network namespaces the tests make, reachable from this host only through a veth pair.

Anything that must answer on a non-loopback address lives in one (ENVIRONMENT.md, "Network rule for tests"):
  - a Ray head whose HAProxy ingress binds every interface (`network_namespace("ray")`);
  - the whole test cluster: API server, the real node and its pod bridge, kube-proxy (`cluster_namespace()`),
    which pods must reach on a real address. Nothing leaves the machine: no masquerading, no route out.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Namespace:
    name: str
    address: str  # the namespace's end of the veth pair; connect to its servers here
    host_address: str = ""
    routed: tuple[str, ...] = field(default=())  # networks inside the namespace this host routes to it

    def wrap(self, argv: list[str]) -> list[str]:
        """argv run inside the namespace (`ip netns exec` execs it: the PID stays the program's). It also gets a
        mount namespace of its own, fine for one program, not for a kubelet and containerd that share mounts."""
        return ["ip", "netns", "exec", self.name, *argv]

    def enter(self, argv: list[str]) -> list[str]:
        """argv run in the namespace's network only: mounts stay this host's (kubelet, containerd, runc)."""
        return ["nsenter", f"--net=/run/netns/{self.name}", "--", *argv]


class NamespaceUnavailable(RuntimeError):
    pass


def _run(step: list[str]) -> None:
    try:
        proc = subprocess.run(step, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as err:
        raise NamespaceUnavailable(f"no `{step[0]}` command: {err}") from err
    if proc.returncode != 0:
        raise NamespaceUnavailable(f"{' '.join(step)}: {proc.stderr.strip()}")


@contextmanager
def network_namespace(tag: str, subnet: int = 251, default_route: bool = True, forwarding: bool = False,
                      routed: tuple[str, ...] = ()) -> Iterator[Namespace]:
    """Create the namespace and its veth pair (10.<subnet>.<n>.0/30); deleted afterwards. NamespaceUnavailable
    says why it could not be made (no root, no `ip`).
    default_route: a route out via this host, which does not forward: Ray finds its node's address from the route
      to a public one (a UDP connect, no packet sent).
    forwarding: the namespace forwards between its interfaces (this host to the pods behind its bridge).
    routed: networks inside the namespace that this host reaches through it (pods, Services)."""
    n = os.getpid() % 250 + 1
    name, host_end, ns_end = f"lsk-{tag}-{n}", f"lsn{tag[:3]}{n}a", f"lsn{tag[:3]}{n}b"
    host_ip, ns_ip = f"10.{subnet}.{n}.1", f"10.{subnet}.{n}.2"
    inside = ["ip", "netns", "exec", name]
    steps = [["ip", "netns", "add", name],
             ["ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end],
             ["ip", "link", "set", ns_end, "netns", name],
             ["ip", "addr", "add", f"{host_ip}/30", "dev", host_end],
             ["ip", "link", "set", host_end, "up"],
             [*inside, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_end],
             [*inside, "ip", "link", "set", ns_end, "up"],
             [*inside, "ip", "link", "set", "lo", "up"]]
    if default_route:
        steps.append([*inside, "ip", "route", "add", "default", "via", host_ip])
    if forwarding:
        steps.append([*inside, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    steps += [["ip", "route", "add", net, "via", ns_ip, "dev", host_end] for net in routed]
    try:
        for step in steps:
            _run(step)
        yield Namespace(name, ns_ip, host_ip, routed)
    finally:
        for net in routed:
            subprocess.run(["ip", "route", "del", net], capture_output=True)
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
