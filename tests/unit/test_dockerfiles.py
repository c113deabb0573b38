"""Dockerfiles are linted (no Docker engine here): pinned base images, non-root USER, no `latest`."""

from __future__ import annotations

import re

import pytest

from llmstack.paths import ROOT

DOCKERFILES = sorted(ROOT.glob("images/**/Dockerfile"))
IDS = [str(p.parent.relative_to(ROOT / "images")) for p in DOCKERFILES]
LOCAL = "localhost/llm-stack/"  # made by scripts/build-images.sh from pinned inputs, never pulled


def instructions(path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    return [(line.split()[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def test_there_is_a_dockerfile_per_image():
    assert {"gateway", "serving", "serving/cpu-base"} <= set(IDS)


def expand(word: str, args: dict[str, str]) -> str:
    """A FROM's ${ARG} is its default: what a build without --build-arg pulls."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), word)


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_base_images_are_pinned(path):
    stages: set[str] = set()
    args: dict[str, str] = {}
    for kind, arg in instructions(path):
        if kind == "ARG" and "=" in arg:
            name, default = arg.split("=", 1)
            args.setdefault(name.strip(), default.strip())
        if kind == "FROM":
            words = arg.split()
            image = expand(words[0], args)
            assert "$" not in image, f"{words[0]}: give the ARG a pinned default"
            if image.startswith(LOCAL):
                name = image.removeprefix(LOCAL).split(":")[0]
                assert name in (ROOT / "scripts/build-images.sh").read_text(), f"{image}: who builds it?"
                continue
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
            if image in stages - {words[-1]} or (image in stages and len(words) == 1):
                continue  # an earlier build stage, pinned where it was defined
            assert ":" in image or "@sha256:" in image, f"unpinned base {image}"
            assert not image.endswith(":latest")
            assert re.search(r":\d+(\.\d+)+", image) or "@sha256:" in image, f"{image}: pin a version"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_the_final_stage_runs_as_a_non_root_user(path):
    steps = instructions(path)
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    users = [arg for kind, arg in steps[last_from:] if kind == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must end as a non-root USER"
    assert not any(kind == "HEALTHCHECK" for kind, _ in steps), "Kubernetes probes do health checks"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_oci_labels_are_set(path):
    labels = " ".join(arg for kind, arg in instructions(path) if kind == "LABEL")
    for key in ("org.opencontainers.image.source", "org.opencontainers.image.licenses"):
        assert key in labels
