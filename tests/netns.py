"""A network namespace for servers that bind every interface, reachable from this host only.

Ray Serve's HAProxy ingress (direct streaming) binds its stats and metrics ports on all interfaces, whatever
the HTTP host is. Tests run it in a namespace of their own: its loopback plus one end of a veth pair whose
other end (with a /30 on this host) is the only way in.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Namespace:
    name: str
    address: str  # the namespace's end of the veth pair; connect to its servers here

    def wrap(self, argv: list[str]) -> list[str]:
        """argv run inside the namespace (`ip netns exec` execs it: the PID stays the program's)."""
        return ["ip", "netns", "exec", self.name, *argv]


class NamespaceUnavailable(RuntimeError):
    pass


@contextmanager
def network_namespace(tag: str) -> Iterator[Namespace]:
    """Create the namespace and its veth pair; deleted afterwards. NamespaceUnavailable says why it could not be
    made (no root, no `ip`)."""
    n = os.getpid() % 250 + 1
    name, host_end, ns_end = f"lsk-{tag}-{n}", f"lsn{tag[:3]}{n}a", f"lsn{tag[:3]}{n}b"
    host_ip, ns_ip = f"10.251.{n}.1", f"10.251.{n}.2"
    steps = [["ip", "netns", "add", name],
             ["ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end],
             ["ip", "link", "set", ns_end, "netns", name],
             ["ip", "addr", "add", f"{host_ip}/30", "dev", host_end],
             ["ip", "link", "set", host_end, "up"],
             ["ip", "netns", "exec", name, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_end],
             ["ip", "netns", "exec", name, "ip", "link", "set", ns_end, "up"],
             ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
             # Ray finds its node's address from the route to a public one (a UDP connect: no packet is sent);
             # this host does not forward, so nothing leaves through it
             ["ip", "netns", "exec", name, "ip", "route", "add", "default", "via", host_ip]]
    try:
        for step in steps:
            try:
                proc = subprocess.run(step, capture_output=True, text=True, timeout=30)
            except FileNotFoundError as err:
                raise NamespaceUnavailable(f"no `ip` command: {err}") from err
            if proc.returncode != 0:
                raise NamespaceUnavailable(f"{' '.join(step)}: {proc.stderr.strip()}")
        yield Namespace(name, ns_ip)
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
