"""Dockerfiles are linted (no Docker engine here): pinned base images, non-root USER, no `latest`."""

from __future__ import annotations

import re

import pytest

from llmstack.paths import ROOT

DOCKERFILES = sorted(ROOT.glob("images/*/Dockerfile"))


def instructions(path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    return [(line.split()[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def test_there_is_a_dockerfile_per_image():
    assert any(p.parent.name == "gateway" for p in DOCKERFILES)


@pytest.mark.parametrize("path", DOCKERFILES, ids=[p.parent.name for p in DOCKERFILES])
def test_base_images_are_pinned(path):
    stages: set[str] = set()
    for kind, arg in instructions(path):
        if kind == "FROM":
            words = arg.split()
            image = words[0]
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
            if image in stages - {words[-1]} or (image in stages and len(words) == 1):
                continue  # an earlier build stage, pinned where it was defined
            assert ":" in image or "@sha256:" in image, f"unpinned base {image}"
            assert not image.endswith(":latest")
            assert re.search(r":\d+(\.\d+)+", image) or "@sha256:" in image, f"{image}: pin a version"


@pytest.mark.parametrize("path", DOCKERFILES, ids=[p.parent.name for p in DOCKERFILES])
def test_the_final_stage_runs_as_a_non_root_user(path):
    steps = instructions(path)
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    users = [arg for kind, arg in steps[last_from:] if kind == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must end as a non-root USER"
    assert not any(kind == "HEALTHCHECK" for kind, _ in steps), "Kubernetes probes do health checks"


@pytest.mark.parametrize("path", DOCKERFILES, ids=[p.parent.name for p in DOCKERFILES])
def test_oci_labels_are_set(path):
    labels = " ".join(arg for kind, arg in instructions(path) if kind == "LABEL")
    for key in ("org.opencontainers.image.source", "org.opencontainers.image.licenses"):
        assert key in labels
