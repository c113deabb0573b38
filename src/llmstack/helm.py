"""Run the real helm binary: template and lint, with errors that keep helm's own message."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

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


def _run(args: Sequence[str]) -> str:
    proc = subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        # helm 4 logs `level=INFO|WARN ...` lines to stderr too; keep only the error itself
        lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("level=")]
        raise HelmError("\n".join(lines).strip() or f"helm {args[0]} failed with exit code {proc.returncode}")
    return proc.stdout


def template(
    values_files: Iterable[Path | str] = (),
    *,
    chart: Path | str = STACK_CHART,
    release: str = "llm",
    namespace: str = "llm",
    kube_version: str | None = None,
    api_versions: Iterable[str] = (),
    set_values: Iterable[str] = (),
) -> str:
    """`helm template` and return the rendered YAML."""
    args = ["template", release, str(chart), "--namespace", namespace]
    for f in values_files:
        args += ["--values", str(f)]
    for s in set_values:
        args += ["--set", s]
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
