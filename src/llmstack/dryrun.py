"""Server-side dry-run: a real API server judges every rendered object (label syntax, host names, quantities,
tolerations, env entries, volume references, CRD schemas and CEL rules...), and each refusal is mapped back
to the values key that produced it. Against a throwaway local API server with the KubeRay CRDs loaded, or
against the user's own cluster (`--kube-context`), as `helm install --dry-run=server` would."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import config as k8s_config
from kubernetes import dynamic
from kubernetes.client.rest import ApiException

from llmstack import manifests


@dataclass(frozen=True)
class Refusal:
    key: str        # the values key, as the user writes it
    message: str


# Where a refused field comes from in the values, for objects of one model (first match wins). The suffix is
# appended to models[i] (or to the release-level key when it starts with "/").
MODEL_FIELDS = (
    (r"headGroupSpec\.template\.spec\.containers\[\d+\]\.resources", "ray.headResources"),
    (r"headGroupSpec\.template\.spec\.(nodeSelector)", "ray.headNodeSelector"),
    (r"headGroupSpec\.template\.spec\.(tolerations)", "ray.headTolerations"),
    (r"headGroupSpec\.template\.spec\.(affinity)", "ray.headAffinity"),
    (r"(?:initContainers|containers)\[\d+\]\.envFrom", "/credentials.envFromSecrets"),
    (r"(?:initContainers|containers)\[\d+\]\.env\b", "extraEnv"),
    (r"\.volumeMounts", "extraVolumeMounts"),
    (r"\.volumes", "extraVolumes"),
    (r"(?:initContainers|containers)\[\d+\]\.resources", "resources"),
    (r"\.tolerations", "tolerations"),
    (r"\.nodeSelector", "nodeSelector"),
    (r"\.affinity", "affinity"),
    (r"template\.(?:metadata\.)?labels", "podLabels"),
    (r"template\.(?:metadata\.)?annotations", "podAnnotations"),
    (r"\.imagePullSecrets", "/image.pullSecrets"),
    (r"\.priorityClassName", "/priorityClassName"),
    (r"\.serviceAccountName", "/serviceAccount.name"),
    (r"containers\[\d+\]\.securityContext", "/containerSecurityContext"),
    (r"spec\.securityContext", "/podSecurityContext"),
    (r"^metadata\.labels", "/commonLabels"),
    (r"^metadata\.annotations", "/commonAnnotations"),
)
RELEASE_FIELDS = {
    "Ingress": ((r"spec\.rules\[\d+\]\.host", "ingress.host"), (r"spec\.tls", "ingress.tls"),
                (r"ingressClassName", "ingress.className"), (r"^metadata\.annotations", "ingress.annotations")),
    "HTTPRoute": ((r"hostnames", "httpRoute.hostnames"), (r"parentRefs", "httpRoute.parentRefs")),
    "PersistentVolumeClaim": ((r"spec\.storageClassName", "modelCache.pvc.storageClass"),
                              (r"spec\.resources", "modelCache.pvc.size"),
                              (r"spec\.accessModes", "modelCache.pvc.accessModes")),
    "ServiceAccount": ((r"^metadata\.annotations", "serviceAccount.annotations"),),
    "NetworkPolicy": ((r"spec\.ingress", "networkPolicy"), (r"spec\.egress", "networkPolicy")),
}
MODEL_LABEL = "llm-stack.io/model"


def values_key(obj: dict, field: str, model_keys: dict[str, str]) -> str:
    """The values key behind `field` of `obj`; `model_keys`: model id (its label) -> models[i]."""
    model = model_keys.get(((obj.get("metadata") or {}).get("labels") or {}).get(MODEL_LABEL, ""))
    if model:
        for pattern, suffix in MODEL_FIELDS:
            if re.search(pattern, field):
                return suffix[1:] if suffix.startswith("/") else f"{model}.{suffix}"
        return model
    for pattern, key in RELEASE_FIELDS.get(obj.get("kind", ""), ()):
        if re.search(pattern, field):
            return key
    if field.startswith("metadata.labels"):
        return "commonLabels"
    if field.startswith("metadata.annotations"):
        return "commonAnnotations"
    return manifests.ref(obj)


def _causes(err: ApiException) -> list[tuple[str, str]]:
    """(field, message) of each cause the API server gave."""
    try:
        status = json.loads(err.body)
    except (TypeError, ValueError):
        return [("", f"{err.status} {err.reason}")]
    causes = ((status.get("details") or {}).get("causes")) or []
    out = [(c.get("field", ""), c.get("message", "")) for c in causes if c.get("message")]
    return out or [("", status.get("message", f"{err.status} {err.reason}"))]


def client(kubeconfig: Path | None = None, context: str | None = None) -> dynamic.DynamicClient:
    api = k8s_config.new_client_from_config(config_file=str(kubeconfig) if kubeconfig else None, context=context)
    return dynamic.DynamicClient(api)


def ensure_namespace(dyn: dynamic.DynamicClient, namespace: str, create: bool) -> bool:
    """Whether the namespace exists. On a throwaway server it is created, with the `default` ServiceAccount that
    a cluster's controller-manager would add (pods are admitted only under an existing account)."""
    namespaces = dyn.resources.get(api_version="v1", kind="Namespace")
    try:
        namespaces.get(name=namespace)
        return True
    except ApiException as err:
        if err.status != 404:
            raise
    if create:
        namespaces.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        dyn.resources.get(api_version="v1", kind="ServiceAccount").create(
            namespace=namespace, body={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})
        return True
    return False


def ray_pods(objs: list[dict]) -> list[dict]:
    """The pods KubeRay would create from each RayService, as Pod objects: a CRD's schema does not validate
    pod templates (label syntax, env names, volumes...), the API server does for a Pod. Each carries the
    path of its template inside the RayService, so a refusal maps back to the same values key."""
    pods = []
    for rs in (o for o in objs if o["kind"] == "RayService"):
        cluster = rs["spec"]["rayClusterConfig"]
        groups = [("head", "spec.rayClusterConfig.headGroupSpec.template", cluster["headGroupSpec"])]
        groups += [(g["groupName"], f"spec.rayClusterConfig.workerGroupSpecs[{i}].template", g)
                   for i, g in enumerate(cluster.get("workerGroupSpecs") or [])]
        for group, path, spec in groups:
            template = spec["template"]
            meta = {**(template.get("metadata") or {}), "name": f"{rs['metadata']['name']}-{group}",
                    "namespace": rs["metadata"].get("namespace")}
            # the release's ServiceAccount exists only once installed: judge the pod under the namespace's own
            pod_spec = {k: v for k, v in template["spec"].items() if k != "serviceAccountName"}
            pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec, "_of": (rs, path)})
    return pods


def dry_run(dyn: dynamic.DynamicClient, objs: list[dict], namespace: str) -> list[Refusal]:
    """Server-side apply of every object with dryRun=All (creates and updates alike), and of the pods each
    RayService would get; every refusal keyed to the values, each problem once (with how many objects)."""
    model_keys = {m.name.replace(".", "-"): m.key for m in manifests.model_facts(objs)}
    found: dict[tuple[str, str], list[str]] = {}
    for obj in [*objs, *ray_pods(objs)]:
        owner, prefix = obj.pop("_of", (obj, ""))
        name, kind = obj["metadata"]["name"], obj["kind"]
        what = f"{kind}/{name}" if not prefix else f"the pod {name} of RayService/{owner['metadata']['name']}"
        try:
            resource = dyn.resources.get(api_version=obj["apiVersion"], kind=kind)
        except dynamic.exceptions.ResourceNotFoundError:
            found.setdefault((manifests.ref(obj), (
                f"the cluster does not serve {obj['apiVersion']} {kind}: install the operator or CRDs that provide "
                "it (llmstack addons), or turn off what renders it")), []).append(what)
            continue
        ns = (obj["metadata"].get("namespace") or namespace) if resource.namespaced else None
        try:
            resource.server_side_apply(body=obj, name=name, namespace=ns, field_manager="llmstack-validate",
                                       dry_run="All", force_conflicts=True)
        except ApiException as err:
            for field, message in _causes(err):
                if prefix and field.startswith("metadata."):
                    field = field.replace("metadata.", "spec.template.", 1)  # the template's own labels
                key = values_key(owner, f"{prefix}.{field}" if prefix else field, model_keys)
                found.setdefault((key, message), []).append((what, field))
    refusals = []  # one per problem: the same value refused in several objects or containers is one mistake
    for (key, message), places in found.items():
        (what, field), more = places[0], len({w for w, _ in places}) - 1
        others = f" (and {more} more object(s))" if more else ""
        where = f"{field}: " if field else ""
        refusals.append(Refusal(key, f"the API server refuses {what}{others}: {where}{message}"))
    return refusals


def load_crds(dyn: dynamic.DynamicClient, folder: Path) -> None:
    """Create the CRDs of a folder and wait until the server serves them (make a new client afterwards: a
    client's discovery does not see kinds created after it started)."""
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    names = []
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                crds.create(body=doc)
                names.append(doc["metadata"]["name"])
    deadline = time.monotonic() + 60
    for name in names:
        while not any(c["type"] == "Established" and c["status"] == "True"
                      for c in (crds.get(name=name).to_dict().get("status") or {}).get("conditions") or []):
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD {name} not established after 60 s")
            time.sleep(0.2)
