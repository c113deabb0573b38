"""Policy scan (checkov, kubernetes framework) of every profile's rendered output, RayService pod
templates included: zero failed checks; every skip is written in the chart with its reason."""

from __future__ import annotations

import pytest

from chartkit import PROFILE_IDS, PROFILES, render
from llmstack.policy import pods_of_rayservice, scan

pytestmark = [pytest.mark.chart, pytest.mark.slow]


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILE_IDS)
def test_profile_passes_the_policy_scan(profile):
    objs = list(render(profile))
    pods = [p for o in objs if o["kind"] == "RayService" for p in pods_of_rayservice(o)]
    report = scan(objs)
    deployments = [o for o in objs if o["kind"] == "Deployment"]
    # checkov silently skips what it cannot parse: make sure it saw every object (it counts a
    # Deployment twice: the object and the Pod of its template)
    assert report.resource_count == len(objs) + len(pods) + len(deployments)
    assert report.passed > 10 * len(pods + deployments)
    assert report.failed == [], "\n".join(report.failed)
    for skipped in report.skipped:
        check, reason = skipped.split(": ", 1)
        assert len(reason) > 20, f"{check} is skipped without a reason"
    print(f"{profile.stem}: {report.resource_count} resources, {report.passed} passed, "
          f"{len(report.skipped)} skipped with reasons")


def test_the_scan_fails_a_privileged_pod():
    """The scanner is live: a pod that breaks the rules is reported."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": "llm"},
           "spec": {"containers": [{"name": "c", "image": "img:latest",
                                    "securityContext": {"privileged": True}}]}}
    report = scan([pod])
    assert report.resource_count == 1
    assert any(f.startswith("CKV_K8S_16 ") for f in report.failed)  # privileged container
