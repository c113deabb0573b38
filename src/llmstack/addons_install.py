"""`llmstack addons install`: the add-on releases through pyhelm3 and the project's helm, against the current
kube context (or --kubeconfig/--kube-context). --dry-run prints the releases and contacts nothing."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from pyhelm3 import Client, errors

from llmstack.addons import CHARTS
from llmstack.paths import helm_binary


async def _install(wanted: dict[str, dict], client: Client) -> None:
    for name, values in wanted.items():
        release, namespace, repo, chart_name, version = CHARTS[name]
        print(f"addons: installing {release} ({chart_name} {version}) into {namespace}", file=sys.stderr)
        chart = await client.get_chart(chart_name, repo=repo, version=version)
        revision = await client.install_or_upgrade_release(release, chart, values, namespace=namespace,
                                                           create_namespace=True, atomic=True, wait=True)
        print(f"{release}: revision {revision.revision} {revision.status.value}")


def install(wanted: dict[str, dict], *, kubeconfig: Path | None = None, kube_context: str | None = None,
            dry_run: bool = False) -> int:
    if dry_run:
        for name in wanted:
            release, namespace, repo, chart, version = CHARTS[name]
            print(f"{release}: helm upgrade --install {release} {chart} --repo {repo} --version {version} "
                  f"-n {namespace} --create-namespace --atomic --wait -f <llmstack addons values>")
        return 0
    client = Client(executable=helm_binary(), kubeconfig=kubeconfig, kubecontext=kube_context)
    try:
        asyncio.run(_install(wanted, client))
    except errors.Error as err:
        lines = [ln for ln in err.stderr.decode().splitlines() if not ln.startswith("level=")]
        print("llmstack: add-on install failed (is a cluster reachable from the kube context, and the chart "
              "repositories from this machine?):\n" + "\n".join(lines), file=sys.stderr)
        return 2
    return 0
