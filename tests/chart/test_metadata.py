"""What every object carries (_helpers.tpl): the release namespace and the standard labels; profiles are
commented; the model cache's claim (pvc.yaml) outlives an uninstall."""

from __future__ import annotations

import pytest

from chartkit import PROFILE_IDS, PROFILES, by_kind, profile

pytestmark = pytest.mark.chart


CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass"}


@pytest.mark.parametrize("name", PROFILE_IDS)
def test_every_namespaced_object_lands_in_the_release_namespace(name):
    for obj in profile(name):
        if obj["kind"] in CLUSTER_SCOPED:
            continue
        assert obj["metadata"].get("namespace") == "llm", f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("name", PROFILE_IDS)
def test_every_object_carries_the_standard_labels(name):
    for obj in profile(name):
        labels = obj["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
                    "app.kubernetes.io/version", "helm.sh/chart"):
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks {key}"


def test_profiles_are_commented():
    for path in PROFILES:
        assert path.read_text().startswith("# "), f"{path.name} should open with a comment saying what it is for"


def test_model_cache_pvc_is_kept_on_uninstall():
    (pvc,) = by_kind(profile("a100-70b-tp4"), "PersistentVolumeClaim")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "300Gi"
