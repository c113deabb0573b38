"""Chart-test helpers: supported Kubernetes versions, the profiles, and a cache of rendered manifests."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from llmstack import helm, manifests
from llmstack.paths import PROFILES as PROFILES_DIR
from llmstack.paths import profiles

# Kubernetes versions every profile must render and validate for
KUBE_VERSIONS = ("1.33.0", "1.34.0", "1.35.0")
PROFILES = profiles()
PROFILE_IDS = [p.stem for p in PROFILES]


@functools.cache
def render(profile: Path | None, kube_version: str = "1.35.0", with_crds: bool = True,
           extra: tuple[str, ...] = ()) -> tuple[dict, ...]:
    """Render a profile (None = chart defaults) once per argument set; objects are shared, do not mutate."""
    values = [profile] if profile else []
    text = helm.template(values, kube_version=kube_version, set_values=extra,
                         api_versions=helm.OPTIONAL_API_VERSIONS if with_crds else ())
    return tuple(manifests.parse(text))


def by_kind(objs, kind: str) -> list[dict]:
    return [o for o in objs if o["kind"] == kind]


def of_models(objs, kind: str) -> list[dict]:
    """Objects of `kind` that belong to the models (not to the gateway subchart)."""
    return [o for o in by_kind(objs, kind) if o["metadata"].get("labels", {}).get("app.kubernetes.io/component")
            == "model"]


# the profiles put the gateway in front; these values take it away and expose each model on its own host
WITHOUT_GATEWAY = ("gateway.enabled=false", "ingress.allowUnauthenticated=true")
# multi-model's two models, each on its own host, without the gateway
MULTI_MODEL_PER_HOST = (*WITHOUT_GATEWAY, "models[0].host=qwen.llm.example.com", "models[1].host=llama.llm.example.com")


# --- reading rendered objects (the chart content tests) ----------------------------------------------

def profile(name: str):
    """The objects a shipped profile renders."""
    return render(PROFILES_DIR / f"{name}.yaml")


def pod_specs(objs) -> list[tuple[str, dict]]:
    """(owner/group, pod spec) of every pod template: Deployments and RayService head/worker groups."""
    specs = []
    for d in by_kind(objs, "Deployment"):
        specs.append((f"Deployment/{d['metadata']['name']}", d["spec"]["template"]["spec"]))
    for rs in by_kind(objs, "RayService"):
        cluster = rs["spec"]["rayClusterConfig"]
        specs.append((f"RayService/{rs['metadata']['name']}/head", cluster["headGroupSpec"]["template"]["spec"]))
        for group in cluster["workerGroupSpecs"]:
            specs.append((f"RayService/{rs['metadata']['name']}/{group['groupName']}", group["template"]["spec"]))
    return specs


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def model_configs(objs) -> dict[str, dict]:
    return {json.loads(cm["data"]["model.json"])["name"]: json.loads(cm["data"]["model.json"])
            for cm in by_kind(objs, "ConfigMap") if "model.json" in cm.get("data", {})}


def worker_group(rayservice: dict) -> dict:
    return rayservice["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]


# --- the catalogue of broken values (tests/bad_values): one file per mistake, read by the chart tier (helm) and the
# cli tier (llmstack validate) ----------------------------------------------------------------------------------------

BAD_VALUES = sorted((Path(__file__).parent / "bad_values").glob("*.yaml"))
RENDERS = "renders"


def bad_values_expectations(path: Path) -> tuple[str, str, str]:
    """(key, message) that `llmstack validate` must report, and what `helm template` must fail with (or `renders`,
    for a rule only llmstack validate knows), from the file's first two lines:
    `# expect: KEY: MESSAGE` (KEY FILE: the file itself) and `# helm: TEXT`."""
    first, second = path.read_text().splitlines()[:2]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: KEY: MESSAGE'"
    assert second.startswith("# helm: "), f"{path.name}: second line must be '# helm: TEXT' or '# helm: renders ...'"
    key, _, message = first.removeprefix("# expect: ").partition(": ")
    helm_text = second.removeprefix("# helm: ")
    return (str(path) if key == "FILE" else key), message, (RENDERS if helm_text.startswith(RENDERS) else helm_text)
