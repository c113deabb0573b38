"""Check rendered manifests against the real schemas: Kubernetes (strict), KubeRay CRDs (+CEL), Ray Serve."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmstack.crd_schema import CrdVersion, validate_custom
from llmstack.k8s_schema import SchemaViolation, validate_builtin
from llmstack.manifests import is_builtin, ref
from llmstack.serve_config import validate_serve_config


@dataclass
class CheckReport:
    kube_version: str
    checked: dict[str, int] = field(default_factory=dict)  # validator -> objects checked
    unchecked: list[str] = field(default_factory=list)      # custom kinds without a schema here
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, validator: str) -> None:
        self.checked[validator] = self.checked.get(validator, 0) + 1


def check_manifests(objs: list[dict], kube_version: str, crds: dict[tuple[str, str], CrdVersion]) -> CheckReport:
    """Validate every object with the validator for its kind; collect every problem."""
    report = CheckReport(kube_version)
    for obj in objs:
        try:
            if is_builtin(obj):
                validate_builtin(obj, kube_version)
                report.count("kubernetes")
            elif (obj.get("apiVersion"), obj.get("kind")) in crds:
                validate_custom(obj, crds)
                report.count("crd")
                if obj["kind"] == "RayService":
                    validate_serve_config(obj)
                    report.count("ray-serve")
            else:
                report.unchecked.append(ref(obj))
        except SchemaViolation as err:
            report.problems.append(str(err))
    return report
