"""Run the project's helm binary through pyhelm3's command runner: template and lint, with errors that keep
helm's own message."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from pyhelm3 import Command, errors

from llmstack.paths import STACK_CHART, helm_binary

# optional CRD groups the charts render objects for when the cluster serves them
OPTIONAL_API_VERSIONS = (
    "monitoring.coreos.com/v1/PodMonitor",
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
    "gateway.networking.k8s.io/v1/HTTPRoute",
    "keda.sh/v1alpha1/ScaledObject",
)


class HelmError(RuntimeError):
    """helm exited non-zero; the message is helm's stderr without its log lines."""


# pyhelm3 logs every failed command; a failure here is raised as HelmError with helm's message instead
logging.getLogger("pyhelm3").addHandler(logging.NullHandler())


def command(**kube) -> Command:
    """pyhelm3's runner on the project's helm (kube: kubeconfig/kubecontext for commands that reach a cluster)."""
    return Command(executable=helm_binary(), **kube)


def _run(args: Sequence[str], stdin: bytes | None = None) -> str:
    try:
        return asyncio.run(asyncio.wait_for(command().run(list(args), stdin), 300)).decode()
    except errors.Error as err:
        # helm 4 logs `level=INFO|WARN ...` lines to stderr too; keep only the error itself
        lines = [ln for ln in err.stderr.decode().splitlines() if not ln.startswith("level=")]
        raise HelmError("\n".join(lines).strip() or f"helm {args[0]} failed with exit code {err.returncode}") from None


def template(
    values_files: Iterable[Path | str] = (),
    *,
    chart: Path | str = STACK_CHART,
    release: str = "llm",
    namespace: str = "llm",
    kube_version: str | None = None,
    api_versions: Iterable[str] = (),
    set_values: Iterable[str] = (),
    set_string: Iterable[str] = (),
) -> str:
    """`helm template` and return the rendered YAML."""
    args = ["template", release, str(chart), "--namespace", namespace]
    for f in values_files:
        args += ["--values", str(f)]
    for s in set_values:
        args += ["--set", s]
    for s in set_string:
        args += ["--set-string", s]
    if kube_version:
        args += ["--kube-version", kube_version]
    for api in api_versions:
        args += ["--api-versions", api]
    return _run(args)


def lint(values_files: Iterable[Path | str] = (), *, chart: Path | str = STACK_CHART, strict: bool = True,
         kube_version: str | None = None) -> str:
    """`helm lint` (strict by default) and return its report."""
    args = ["lint", str(chart)]
    if strict:
        args.append("--strict")
    for f in values_files:
        args += ["--values", str(f)]
    if kube_version:
        args += ["--kube-version", kube_version]
    return _run(args)
