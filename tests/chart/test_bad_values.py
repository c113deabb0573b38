"""Each bad value makes `helm template` fail with a message that names the key and the fix,
never with a Go template stack trace (the schema catches types and unknown keys; the chart's
_validate.tpl catches the rules a schema cannot express)."""

from __future__ import annotations

import pytest
import yaml

from llmstack import helm

pytestmark = pytest.mark.chart


def model(**fields) -> dict:
    return {"name": "m", "source": "hf://org/model", **fields}


CASES = {
    # --- schema: types, enums, unknown keys, required keys --------------------------------------------
    "wrong-type": ({"models": [model(tensorParallelSize="four")]},
                   "at '/models/0/tensorParallelSize': got string, want integer"),
    "unknown-model-key": ({"models": [model(replicas=2)]}, "additional properties 'replicas' not allowed"),
    "unknown-top-level-key": ({"modelz": []}, "additional properties 'modelz' not allowed"),
    "unknown-engine": ({"models": [model(engine="triton")]}, "at '/models/0/engine'"),
    "missing-source": ({"models": [{"name": "m"}]}, "missing property 'source'"),
    "missing-name": ({"models": [{"source": "hf://org/m"}]}, "missing property 'name'"),
    "uppercase-name": ({"models": [model(name="Llama-3")]}, "at '/models/0/name'"),
    "gpu-memory-fraction-over-1": ({"models": [model(vllm={"gpuMemoryUtilization": 1.5})]},
                                   "at '/models/0/vllm/gpuMemoryUtilization'"),
    "bad-upgrade-strategy": ({"models": [model(ray={"upgradeStrategy": "InPlace"})]},
                             "at '/models/0/ray/upgradeStrategy'"),
    "bad-cache-type": ({"modelCache": {"type": "nfs"}}, "at '/modelCache/type'"),
    "unknown-autoscaling-provider": ({"models": [model(autoscaling={"provider": "vpa"})]},
                                     "at '/models/0/autoscaling/provider'"),
    # --- rules in the chart ------------------------------------------------------------------------------
    "scale-down-shorter-than-cold-start": (
        {"models": [model(engine="vllm", coldStartSeconds=600,
                          autoscaling={"maxReplicas": 3, "scaleDownStabilizationSeconds": 60})]},
        "models[0].autoscaling.scaleDownStabilizationSeconds (60) is shorter than coldStartSeconds (600): the HPA "
        "would drop replicas it must reload within one cold start; set it to at least 600"),
    "keda-on-ray": ({"models": [model(engine="ray", autoscaling={"provider": "keda"})]},
                    'models[0].autoscaling.provider: "keda" cannot scale engine: ray'),
    "keda-server-not-a-url": ({"keda": {"serverAddress": "prometheus:9090"}}, "at '/keda/serverAddress'"),
    "alert-duration-not-a-duration": ({"monitoring": {"alerts": {"for": "ten minutes"}}},
                                      "at '/monitoring/alerts/for'"),
    "latest-tag": ({"image": {"tag": "latest"}}, "image.tag: `latest` is not allowed"),
    "bad-digest": ({"image": {"digest": "sha256:abc"}}, 'image.digest: "sha256:abc" is not a digest'),
    "empty-models": ({"models": []}, "models: the list is empty"),
    "bad-source-scheme": ({"models": [model(source="ftp://host/model")]},
                          'models[0].source: "ftp://host/model" is not a supported model source: use hf://'),
    "hf-source-without-model": ({"models": [model(source="hf://just-an-org")]},
                                "models[0].source: \"hf://just-an-org\" is not a supported model source"),
    "relative-file-source": ({"models": [model(source="file://models/x")]},
                             "is not a supported model source"),
    "tp-pp-mismatch": ({"models": [model(tensorParallelSize=4, pipelineParallelSize=2, gpus=4)]},
                       "models[0].gpus (4) contradicts tensorParallelSize (4) × pipelineParallelSize (2) = 8: "
                       "set gpus: 8"),
    "hpa-on-ray": ({"models": [model(engine="ray", autoscaling={"provider": "hpa"})]},
                   "models[0].autoscaling.provider: \"hpa\" cannot scale engine: ray (a RayService/RayCluster "
                   "has no /scale subresource)"),
    "ray-provider-on-vllm": ({"models": [model(engine="vllm", autoscaling={"provider": "ray"})]},
                             "models[0].autoscaling.provider: ray needs engine: ray"),
    "duplicate-names": ({"models": [model(name="a"), model(name="a")]},
                        'models[1].name: "a" clashes with models[0]'),
    "names-clash-as-object-names": ({"models": [model(name="a.b"), model(name="a-b")]},
                                    'models[1].name: "a-b" clashes with models[0]'),
    "name-too-long-for-kuberay": ({"models": [model(name="a-very-long-model-name-of-forty-chars")]},
                                  "KubeRay takes at most 40 for a RayService"),
    "min-above-max": ({"models": [model(autoscaling={"minReplicas": 3, "maxReplicas": 2})]},
                      "models[0].autoscaling.minReplicas (3) is above maxReplicas (2)"),
    "gpu-in-resources": ({"models": [model(resources={"limits": {"nvidia.com/gpu": 2}})]},
                         "models[0].resources.limits.nvidia.com/gpu: GPUs are set by gpus / TP×PP"),
    "multi-node-on-vllm": ({"models": [model(engine="vllm", tensorParallelSize=8, pipelineParallelSize=2)]},
                           "use engine: ray for multi-node replicas"),
    "uneven-node-split": ({"models": [model(tensorParallelSize=12)]},
                          "12 GPUs per replica do not split evenly over nodes of gpusPerNode (8)"),
    "target-above-max-ongoing": ({"models": [model(autoscaling={"targetOngoingRequests": 100,
                                                                  "maxOngoingRequests": 10})]},
                                 "targetOngoingRequests (100) is above maxOngoingRequests (10)"),
    "shared-host-without-gateway": ({"ingress": {"enabled": True, "host": "llm.example.com"},
                                     "models": [model(name="a"), model(name="b")]},
                                    'models[1].host: "llm.example.com" is also the host of models[0]'),
    "adapters-without-lora": ({"models": [model(lora={"adapters": [{"name": "x", "source": "hf://o/x"}]})]},
                              "set models[0].lora.enabled: true"),
    "bad-adapter-source": ({"models": [model(lora={"enabled": True,
                                                    "adapters": [{"name": "x", "source": "http://x"}]})]},
                           "models[0].lora.adapters[0].source"),
    # --- values a cluster would refuse, found first ------------------------------------------------------
    "host-given-as-a-url": ({"ingress": {"enabled": True, "host": "https://llm.example.com"}},
                            'ingress.host: "https://llm.example.com" is a URL: give the host name only'),
    "host-with-a-port": ({"models": [model(host="llm.example.com:443")]},
                         'models[0].host: "llm.example.com:443" is not a host name'),
    "route-hostname-uppercase": ({"httpRoute": {"enabled": True, "parentRefs": [{"name": "gw"}],
                                                "hostnames": ["LLM.example.com"]}},
                                 'httpRoute.hostnames[0]: "LLM.example.com" is not a host name'),
    "tls-without-host": ({"ingress": {"enabled": True, "tls": [{"secretName": "t"}]}},
                         "ingress.tls: TLS needs a host name"),
    "tls-without-secret": ({"ingress": {"enabled": True, "host": "llm.example.com", "tls": [{"hosts": ["x"]}]}},
                           "ingress.tls[0].secretName: required"),
    "replicas-beyond-int32": ({"models": [model(autoscaling={"maxReplicas": 2**32})]},
                              "models[0].autoscaling.maxReplicas (4294967296) is beyond what the Kubernetes API "
                              "stores (2147483647, an int32)"),
    "min-zero-under-an-hpa": ({"models": [model(engine="vllm", autoscaling={"minReplicas": 0, "maxReplicas": 2})]},
                              "models[0].autoscaling.minReplicas: 0 is refused under an HPA"),
    "tag-read-as-a-number": ({"image": {"tag": 1.1}}, "image.tag: 1.1 is a number to YAML, not a tag"),
    "gateway-tag-read-as-a-number": ({"gateway": {"enabled": True, "keys": {"existingSecret": "k"},
                                                  "image": {"tag": 2.0}}},
                                     "gateway.image.tag: 2 is a number to YAML, not a tag"),
    "registry-inside-repository": ({"image": {"repository": "quay.io/org/serving"}},
                                   'image.repository: "quay.io/org/serving" starts with the registry host "quay.io": '
                                   'set image.registry: "quay.io" and image.repository: "org/serving"'),
    "gateway-bad-digest": ({"gateway": {"enabled": True, "keys": {"existingSecret": "k"},
                                        "image": {"digest": "sha256:1234"}}},
                           'gateway.image.digest: "sha256:1234" is not a digest'),
    "httproute-without-parent": ({"httpRoute": {"enabled": True}}, "httpRoute.parentRefs: empty"),
    "source-climbs-out-of-the-cache": ({"models": [model(source="s3://bucket/models/../../etc")]},
                                       "models[0].source: \"s3://bucket/models/../../etc\" has a '.' or '..' path "
                                       "segment"),
    "adapter-source-climbs": ({"models": [model(lora={"enabled": True, "adapters": [
        {"name": "a", "source": "file:///adapters/../etc"}]})]}, "models[0].lora.adapters[0].source"),
    "exposed-without-any-key": ({"ingress": {"enabled": True, "host": "llm.example.com"}},
                                "ingress.enabled: it would expose the models' API without any key"),
    "pvc-cache-without-size": ({"modelCache": {"type": "pvc", "pvc": {"size": ""}}}, "at '/modelCache/pvc/size'"),
}


@pytest.mark.parametrize("values, expected", CASES.values(), ids=CASES.keys())
def test_bad_value_fails_with_its_message(tmp_path, values, expected):
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    with pytest.raises(helm.HelmError) as failure:
        helm.template([path])
    message = str(failure.value)
    assert expected in message
    for trace in ("error calling", "nil pointer", "<.Values", "wrong type for value", "executing \""):
        assert trace not in message, f"template stack trace leaked: {message}"


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump({"models": [model(source="ftp://x", tensorParallelSize=2, gpus=1),
                                               model(name="second", source="ftp://y")]}))
    with pytest.raises(helm.HelmError) as failure:
        helm.template([path])
    assert "3 problem(s)" in str(failure.value)


def test_there_are_at_least_twenty_cases():
    assert len(CASES) >= 20
