"""Session fixtures shared by every tier."""

from __future__ import annotations

import pytest

from llmstack.crd_schema import load_crds
from llmstack.paths import crds_dir


@pytest.fixture(scope="session")
def crds():
    """The real KubeRay CRDs (../shared/crds, or `make crds`), every served version."""
    return load_crds(crds_dir())
