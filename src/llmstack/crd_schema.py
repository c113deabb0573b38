"""Validate custom resources against a CustomResourceDefinition's openAPIV3Schema, as the API server would.

The structural schema is turned into plain JSON Schema: `x-kubernetes-int-or-string` becomes
integer-or-string, `nullable` admits null, a required field with a default is not required (the
server defaults it first), unknown fields are rejected unless `x-kubernetes-preserve-unknown-fields`
(like `kubectl --validate=strict`), and `metadata` is only an object. CEL rules
(`x-kubernetes-validations`) are evaluated with cel-python; transition rules (`oldSelf`) only apply
to updates and are skipped on create.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jsonschema
import yaml

from llmstack.k8s_schema import SchemaViolation
from llmstack.manifests import ref


def to_json_schema(node: dict) -> dict:
    """Translate one structural-schema node (recursively) into JSON Schema."""
    out = {k: v for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in node:
        props = node["properties"]
        out["properties"] = {name: to_json_schema(sub) for name, sub in props.items()}
        if "required" in node:
            out["required"] = [r for r in node["required"] if "default" not in props.get(r, {})]
        if not node.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in node:
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(node["additionalProperties"])
    if "items" in node:
        out["items"] = to_json_schema(node["items"])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@dataclass(frozen=True, eq=False)  # hashed by identity: one cached validator per loaded CRD version
class CrdVersion:
    group: str
    kind: str
    version: str
    schema: dict  # the CRD's openAPIV3Schema, untranslated (CEL rules live here)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


def load_crds(folder: Path) -> dict[tuple[str, str], CrdVersion]:
    """Every served version of every CRD in a folder, keyed by (apiVersion, kind)."""
    found = {}
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if version.get("served", True):
                    crd = CrdVersion(spec["group"], spec["names"]["kind"], version["name"],
                                     version["schema"]["openAPIV3Schema"])
                    found[(crd.api_version, crd.kind)] = crd
    return found


@cache
def _validator(crd: CrdVersion) -> jsonschema.protocols.Validator:
    schema = to_json_schema(copy.deepcopy(crd.schema))
    schema["properties"]["metadata"] = {"type": "object"}
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


@cache
def _cel_program(rule: str):
    """A CEL rule compiled once, however many objects it checks."""
    import celpy  # cel-python; imported here because it is only needed for CRDs with rules

    env = celpy.Environment()
    return env.program(env.compile(rule))


def cel_violations(schema: dict, value, path: str = "") -> list[str]:
    """Messages of the CEL rules (non-transition) that `value` breaks, walking schema and value together."""
    import celpy

    problems = []
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"]:
            continue  # transition rule: only meaningful on update
        if not bool(_cel_program(rule["rule"]).evaluate({"self": celpy.json_to_cel(value)})):
            problems.append(f"{path or '<root>'}: {rule.get('message', rule['rule'])}")
    if isinstance(value, dict):
        for key, sub in value.items():
            sub_schema = schema.get("properties", {}).get(key) or (
                schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else None)
            if sub_schema:
                problems += cel_violations(sub_schema, sub, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += cel_violations(schema["items"], item, f"{path}[{i}]")
    return problems


def validate_custom(obj: dict, crds: dict[tuple[str, str], CrdVersion]) -> None:
    """Raise SchemaViolation naming the object and field when the CRD schema or a CEL rule rejects it."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key not in crds:
        raise SchemaViolation(f"{ref(obj)}: no CRD for {key[0]} {key[1]} among {sorted(crds)}")
    crd = crds[key]
    errors = sorted(_validator(crd).iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.absolute_path) or "<root>"
        raise SchemaViolation(f"{ref(obj)}: {path}: {first.message} ({len(errors)} error(s))")
    broken = cel_violations(crd.schema, obj)
    if broken:
        raise SchemaViolation(f"{ref(obj)}: CEL rule failed: {'; '.join(broken)}")
