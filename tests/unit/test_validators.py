"""Kubernetes and Ray Serve validators: accept what is valid, and name the field of what is not."""

from __future__ import annotations

import pytest
import yaml

from llmstack.k8s_schema import SchemaViolation, validate_builtin
from llmstack.serve_config import validate_serve_config

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "llm"},
           "spec": {"ports": [{"port": 80}]}}


def test_valid_builtin_passes():
    validate_builtin(SERVICE, "1.35.0")


def test_unknown_field_fails_in_strict_mode():
    bad = {**SERVICE, "spec": {"ports": [{"port": 80, "portt": 1}]}}
    with pytest.raises(SchemaViolation, match="portt"):
        validate_builtin(bad, "1.35.0")


def test_removed_api_fails_as_missing_schema():
    hpa = {"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
           "spec": {}}
    with pytest.raises(SchemaViolation, match="no schema"):
        validate_builtin(hpa, "1.35.0")


def rayservice_with(serve: dict) -> dict:
    return {"kind": "RayService", "metadata": {"name": "r"}, "spec": {"serveConfigV2": yaml.safe_dump(serve)}}


GOOD_DEPLOYMENT = {"max_ongoing_requests": 64, "autoscaling_config": {"min_replicas": 1, "max_replicas": 2}}


def test_serve_config_validates():
    serve = {"applications": [{"name": "a", "import_path": "llm_serving.ray_app:build_app",
                               "args": {"models": [{"name": "m", "deploymentConfig": GOOD_DEPLOYMENT}]}}]}
    assert validate_serve_config(rayservice_with(serve))["applications"][0]["name"] == "a"


def test_serve_config_rejects_bad_import_path():
    serve = {"applications": [{"name": "a", "import_path": "no_separator"}]}
    with pytest.raises(SchemaViolation, match="import path"):
        validate_serve_config(rayservice_with(serve))


def test_serve_config_rejects_inverted_autoscaling_bounds():
    deployment = {"autoscaling_config": {"min_replicas": 3, "max_replicas": 2}}
    serve = {"applications": [{"name": "a", "import_path": "m:f",
                               "args": {"models": [{"name": "m", "deploymentConfig": deployment}]}}]}
    with pytest.raises(SchemaViolation, match="max_replicas"):
        validate_serve_config(rayservice_with(serve))
