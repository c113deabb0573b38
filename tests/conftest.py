"""Shared fixtures: the real helm, the real KubeRay CRDs, and a cache of rendered profiles."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from llmstack import helm, manifests
from llmstack.crd_schema import load_crds
from llmstack.paths import crds_dir, profiles

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


@pytest.fixture(scope="session")
def crds():
    return load_crds(crds_dir())
