"""The repository is the product: a clone in an empty folder, with nothing beside it, gets its CRDs from the
Go module proxy and checks a profile, and its unit tier passes. Nothing it runs reads outside the clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from llmstack.paths import ROOT, TOOLS_BIN

pytestmark = [pytest.mark.chart, pytest.mark.slow]


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if not (ROOT / ".git").exists():
        pytest.fail("not a git checkout: the clone test needs the repository's history")
    where = tmp_path_factory.mktemp("lonely") / "llm-stack"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(where)], check=True, timeout=120)
    assert not (where.parent / "shared").exists()
    return where


def run(clone, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    # the clone's own code first; the toolchain (python packages, helm, Go caches) is this checkout's: installing
    # it again would only download the same pinned files
    packages = [clone / "src", clone / "images" / "serving" / "src", clone / "images" / "gateway" / "src"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, packages)), "PATH": f"{TOOLS_BIN}:{os.environ['PATH']}",
           "GOMODCACHE": str(ROOT / ".tools" / "go" / "crds-modules")}
    env.pop("LLMSTACK_CRDS", None)
    return subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, timeout=timeout)


def test_nothing_in_the_clone_reads_beside_it(clone):
    beside = "/".join(["..", "shared"])  # spelled so that this file does not find itself
    found = subprocess.run(["git", "grep", "-n", "-F", "-e", beside, "--", ":!*.md"], cwd=clone,
                           capture_output=True, text=True).stdout
    assert found == "", found


def test_the_clone_fetches_its_crds_and_checks_a_profile(clone):
    if not shutil.which("go"):
        pytest.fail("Go is needed for the CRDs (the ray-operator module): the CI machine has it")
    proc = run(clone, sys.executable, "-c", "import llmstack; print(llmstack.__file__)")
    assert proc.stdout.startswith(str(clone)), proc.stdout + proc.stderr
    proc = run(clone, sys.executable, "-m", "llmstack.cli", "check", "-f", "values/cpu-tiny.yaml")
    assert proc.returncode == 2 and "llmstack crds" in proc.stderr, proc.stdout + proc.stderr  # says how
    proc = run(clone, sys.executable, "-m", "llmstack.cli", "crds")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(str(clone / ".tools" / "crds"))
    proc = run(clone, sys.executable, "-m", "llmstack.cli", "check", "-f", "values/cpu-tiny.yaml")
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stdout + proc.stderr


def test_the_clones_unit_tier_passes(clone):
    proc = run(clone, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
