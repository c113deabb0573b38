"""Validate built-in Kubernetes objects against the real OpenAPI schemas of a given version."""

from __future__ import annotations

import kubernetes_validate

from llmstack.manifests import ref


class SchemaViolation(ValueError):
    """An object does not match its schema; the message names the object and the field path."""


def validate_builtin(obj: dict, kube_version: str) -> None:
    """Strict validation (unknown fields fail); a missing schema for a built-in kind fails too."""
    try:
        kubernetes_validate.validate(obj, kube_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError as err:
        raise SchemaViolation(f"{ref(obj)}: no schema for {obj.get('apiVersion')} {obj.get('kind')} "
                              f"in Kubernetes {kube_version} (removed or misspelled API?): {err}") from err
    except kubernetes_validate.ValidationError as err:
        path = ".".join(str(p) for p in err.path) or "<root>"
        raise SchemaViolation(f"{ref(obj)}: {path}: {err.message}") from err
