"""The CRD validator rejects what the API server would, so the chart tests that rely on it can fail."""

from __future__ import annotations

import copy

import pytest

from llmstack.crd_schema import cel_violations, to_json_schema, validate_custom
from llmstack.k8s_schema import SchemaViolation

MINIMAL_RAYSERVICE = {
    "apiVersion": "ray.io/v1",
    "kind": "RayService",
    "metadata": {"name": "x", "namespace": "llm"},
    "spec": {
        "serveConfigV2": "applications: []",
        "rayClusterConfig": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "img:1"}]}},
            },
        },
    },
}


def test_minimal_rayservice_is_accepted(crds):
    validate_custom(copy.deepcopy(MINIMAL_RAYSERVICE), crds)


def test_unknown_field_is_rejected(crds):
    obj = copy.deepcopy(MINIMAL_RAYSERVICE)
    obj["spec"]["serveConfigV3"] = "oops"
    with pytest.raises(SchemaViolation, match="serveConfigV3"):
        validate_custom(obj, crds)


def test_wrong_type_names_the_field(crds):
    obj = copy.deepcopy(MINIMAL_RAYSERVICE)
    obj["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] = "yes"
    with pytest.raises(SchemaViolation, match="enableInTreeAutoscaling"):
        validate_custom(obj, crds)


def test_missing_required_field_is_rejected(crds):
    obj = copy.deepcopy(MINIMAL_RAYSERVICE)
    del obj["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"]
    with pytest.raises(SchemaViolation, match="containers"):
        validate_custom(obj, crds)


def test_int_or_string_accepts_both_and_nothing_else(crds):
    obj = copy.deepcopy(MINIMAL_RAYSERVICE)
    container = obj["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"limits": {"cpu": 2, "memory": "4Gi"}}
    validate_custom(obj, crds)
    container["resources"] = {"limits": {"cpu": [2]}}
    with pytest.raises(SchemaViolation):
        validate_custom(obj, crds)


def test_cel_rule_on_managed_by_is_enforced(crds):
    obj = copy.deepcopy(MINIMAL_RAYSERVICE)
    obj["spec"]["rayClusterConfig"]["managedBy"] = "someone-else"
    with pytest.raises(SchemaViolation, match="managedBy field value must be"):
        validate_custom(obj, crds)
    obj["spec"]["rayClusterConfig"]["managedBy"] = "ray.io/kuberay-operator"
    validate_custom(obj, crds)


def test_transition_rules_are_skipped_on_create():
    schema = {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "immutable"}]}
    assert cel_violations(schema, "anything") == []


def test_required_field_with_default_is_not_required():
    node = {"type": "object", "required": ["a", "b"],
            "properties": {"a": {"type": "string", "default": "x"}, "b": {"type": "string"}}}
    assert to_json_schema(node)["required"] == ["b"]


def test_unknown_kind_is_an_error(crds):
    with pytest.raises(SchemaViolation, match="no CRD"):
        validate_custom({"apiVersion": "ray.io/v1", "kind": "RayJobby", "metadata": {"name": "x"}}, crds)
