"""Validate a RayService's serveConfigV2 with Ray Serve's own config models."""

from __future__ import annotations

import yaml

from llmstack.k8s_schema import SchemaViolation
from llmstack.manifests import ref


def validate_serve_config(rayservice: dict) -> dict:
    """Parse serveConfigV2 and check it with ray.serve.schema.ServeDeploySchema; also check each
    model's deploymentConfig with DeploymentSchema and AutoscalingConfig. Returns the parsed config."""
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import DeploymentSchema, ServeDeploySchema

    text = rayservice["spec"].get("serveConfigV2")
    if not isinstance(text, str):
        raise SchemaViolation(f"{ref(rayservice)}: spec.serveConfigV2 must be a YAML string")
    config = yaml.safe_load(text)
    try:
        ServeDeploySchema.model_validate(config)
        for app in config["applications"]:
            for model in app.get("args", {}).get("models", []):
                deployment = model["deploymentConfig"]
                DeploymentSchema.model_validate({"name": model["name"], **deployment})
                AutoscalingConfig.model_validate(deployment["autoscaling_config"])
    except (ValueError, KeyError, TypeError) as err:  # pydantic's ValidationError is a ValueError
        raise SchemaViolation(f"{ref(rayservice)}: serveConfigV2: {err}") from err
    return config
