"""Autoscaling and monitoring objects: the HPA / KEDA ScaledObject on queue depth (one definition shared with
the generated prometheus-adapter values), the PrometheusRule (checked and unit-tested with the real
promtool), and the dashboards (generated, committed, shipped as sidecar ConfigMaps)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from chartkit import PROFILE_IDS, PROFILES, by_kind, of_models, render
from llmstack import addons, generate, queue_depth
from llmstack.paths import PROFILES as PROFILE_DIR
from llmstack.values import coalesced

pytestmark = pytest.mark.chart

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def models_of(objs) -> list[dict]:
    return [json.loads(cm["data"]["model.json"]) for cm in by_kind(objs, "ConfigMap") if "model.json" in cm["data"]]


def cold_start_seconds(profile, name: str) -> int:
    """A model's coldStartSeconds as the values give it (its entry, else modelDefaults, else the chart's)."""
    values = coalesced([profile])
    entry = next(m for m in values["models"] if m["name"] == name)
    return entry.get("coldStartSeconds", values["modelDefaults"]["coldStartSeconds"])


def test_committed_generated_files_match_their_generators():
    for path, text in generate.generated().items():
        assert path.is_file(), f"{path} is missing: run `make generate`"
        assert path.read_text() == text, f"{path} differs from its generator: run `make generate`"
    assert not generate.stale(generate.generated())


def test_generate_check_reports_a_drifted_file(tmp_path, monkeypatch):
    monkeypatch.setattr(generate, "DASHBOARDS_DIR", tmp_path)
    files = {tmp_path / "x.json": "{}\n"}
    (tmp_path / "x.json").write_text('{"edited": true}\n')
    (tmp_path / "leftover.json").write_text("{}\n")
    assert sorted(p.name for p in generate.stale(files)) == ["leftover.json", "x.json"]


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILE_IDS)
def test_an_hpa_on_queue_depth_for_each_scaling_vllm_model_and_none_for_ray(profile):
    objs = render(profile)
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind(objs, "HorizontalPodAutoscaler")}
    deployments = {d["metadata"]["name"] for d in by_kind(objs, "Deployment")}
    assert set(hpas) <= deployments, "an HPA may only target a Deployment (RayServices have no /scale)"
    rayservices = {r["metadata"]["name"] for r in by_kind(objs, "RayService")}
    for cm in by_kind(objs, "ConfigMap"):
        if "model.json" not in cm["data"]:
            continue
        cfg = json.loads(cm["data"]["model.json"])
        name = cm["metadata"]["name"].removesuffix("-config")  # the model's Deployment / RayService
        auto = cfg["deploymentConfig"]["autoscaling_config"]
        if name in rayservices or auto["max_replicas"] == auto["min_replicas"]:
            assert name not in hpas
            continue
        hpa = hpas[name]["spec"]
        metric = hpa["metrics"][0]["pods"]
        assert metric["metric"]["name"] == queue_depth.definition()["metricName"]
        assert metric["metric"]["selector"]["matchLabels"] == {"model_name": cfg["name"]}
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (auto["min_replicas"], auto["max_replicas"])
        cold_start = cold_start_seconds(profile, cfg["name"])
        assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= cold_start
        assert {p["periodSeconds"] for p in hpa["behavior"]["scaleUp"]["policies"]} == {min(1800, cold_start)}


def test_the_adapter_serves_the_metric_the_hpa_reads():
    values = yaml.safe_load((addons.ADDONS_DIR / "prometheus-adapter.yaml").read_text())
    (rule,) = values["rules"]["custom"]
    hpa = of_models(render(PROFILE_DIR / "l4-8b.yaml"), "HorizontalPodAutoscaler")[0]
    assert rule["name"]["as"] == hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
    assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    # per pod, per model: what the adapter sends for the HPA of one Deployment's pods
    sent = queue_depth.expand_adapter_query(rule["metricsQuery"], "vllm:num_requests_waiting",
                                            'namespace="llm",pod=~"a|b",model_name="m"', "pod")
    assert sent == ('sum by (pod) (vllm:num_requests_waiting_by_reason{reason="capacity",namespace="llm",'
                    'pod=~"a|b",model_name="m"}) or sum by (pod) (vllm:num_requests_waiting{namespace="llm",'
                    'pod=~"a|b",model_name="m"})')


def test_keda_provider_renders_a_scaled_object_with_the_same_query_instead_of_the_hpa():
    objs = render(PROFILE_DIR / "l4-8b.yaml", extra=("models[0].autoscaling.provider=keda",))
    assert not of_models(objs, "HorizontalPodAutoscaler")
    (scaled,) = by_kind(objs, "ScaledObject")
    (deployment,) = of_models(objs, "Deployment")
    (cfg,) = models_of(objs)
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": deployment["metadata"]["name"]}
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    ns = scaled["metadata"]["namespace"]
    assert trigger["metadata"]["query"] == queue_depth.query(
        "namespace, model_name", f'namespace="{ns}",model_name="{cfg["name"]}"')
    assert trigger["metadata"]["ignoreNullValues"] == "false"
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"][
        "stabilizationWindowSeconds"] >= cold_start_seconds(PROFILE_DIR / "l4-8b.yaml", cfg["name"])


def test_monitoring_objects_only_where_the_crds_are_served_and_switchable():
    path = PROFILE_DIR / "multi-model.yaml"
    assert {o["kind"] for o in render(path)} >= {"PodMonitor", "PrometheusRule"}
    plain = {o["kind"] for o in render(path, with_crds=False)}
    assert not plain & {"PodMonitor", "PrometheusRule", "ServiceMonitor"}
    off = render(path, extra=("monitoring.prometheusRule.enabled=false", "monitoring.podMonitor.enabled=false"))
    assert not {o["kind"] for o in off} & {"PodMonitor", "PrometheusRule"}


def rule_groups(objs) -> list[dict]:
    (rule,) = by_kind(objs, "PrometheusRule")
    return rule["spec"]["groups"]


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILE_IDS)
def test_promtool_accepts_the_rules(profile, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups(render(profile))}))
    out = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def promtool_test(tmp_path, objs, tests: list[dict]) -> subprocess.CompletedProcess:
    """Run promtool's rule unit tests on the rendered rules. The alerts' annotations are templated on
    $value, so they are checked apart (test_every_alert_is_annotated); here only expressions count."""
    groups = rule_groups(objs)
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m",
                                                        "tests": tests}))
    return subprocess.run([PROMTOOL, "test", "rules", "test.yaml"], capture_output=True, text=True, cwd=tmp_path)


def test_promtool_unit_tests_recording_rules_read_both_metric_families_and_alerts_fire(tmp_path):
    """multi-model: qwen runs on Ray (ray_vllm_* series), llama on a Deployment (vllm:* series)."""
    objs = render(PROFILE_DIR / "multi-model.yaml", extra=("monitoring.alerts.for=5m",))
    ray_model, vllm_model = (cfg["name"] for cfg in models_of(objs))
    ns = by_kind(objs, "PrometheusRule")[0]["metadata"]["namespace"]
    ray = f'namespace="{ns}",model_name="{ray_model}"'
    dep = f'namespace="{ns}",model_name="{vllm_model}"'
    series = [
        # llama: 4 pods (its maxReplicas), queue growing on each
        *[{"series": f'vllm:num_requests_waiting{{{dep},pod="p{i}"}}', "values": "0+1x30"} for i in range(4)],
        *[{"series": f'vllm:num_requests_running{{{dep},pod="p{i}"}}', "values": "8x30"} for i in range(4)],
        {"series": f'vllm:kv_cache_usage_perc{{{dep},pod="p0"}}', "values": "0.95x30"},
        # qwen on Ray: one replica, cache fine, slow first tokens, some aborted requests
        {"series": f'ray_vllm_num_requests_waiting{{{ray},WorkerId="w1"}}', "values": "0x30"},
        {"series": f'ray_vllm_num_requests_running{{{ray},WorkerId="w1"}}', "values": "2x30"},
        {"series": f'ray_vllm_kv_cache_usage_perc{{{ray},WorkerId="w1"}}', "values": "0.2x30"},
        {"series": f'ray_vllm_time_to_first_token_seconds_bucket{{{ray},le="1"}}', "values": "0+1x30"},
        {"series": f'ray_vllm_time_to_first_token_seconds_bucket{{{ray},le="5"}}', "values": "0+10x30"},
        {"series": f'ray_vllm_time_to_first_token_seconds_bucket{{{ray},le="+Inf"}}', "values": "0+10x30"},
        {"series": f'ray_vllm_request_success_total{{{ray},finished_reason="stop"}}', "values": "0+8x30"},
        {"series": f'ray_vllm_request_success_total{{{ray},finished_reason="abort"}}', "values": "0+2x30"},
    ]
    alert = lambda name, model, **labels: {"exp_labels": {"severity": labels.pop("severity", "warning"),  # noqa: E731
                                                          "alertname": name, "namespace": ns,
                                                          "model_name": model, **labels}}
    tests = [{
        "interval": "1m", "input_series": series,
        "promql_expr_test": [
            {"expr": "llmstack:replicas:count", "eval_time": "20m",
             "exp_samples": [{"labels": f"llmstack:replicas:count{{{dep}}}", "value": 4},
                             {"labels": f"llmstack:replicas:count{{{ray}}}", "value": 1}]},
            {"expr": "llmstack:queue_depth:sum", "eval_time": "20m",
             "exp_samples": [{"labels": f"llmstack:queue_depth:sum{{{dep}}}", "value": 80},
                             {"labels": f"llmstack:queue_depth:sum{{{ray}}}", "value": 0}]},
            {"expr": "llmstack:request_errors:ratio_rate5m", "eval_time": "20m",
             "exp_samples": [{"labels": f"llmstack:request_errors:ratio_rate5m{{{ray}}}", "value": 0.2}]},
        ],
        "alert_rule_test": [
            {"alertname": "LLMStackQueueGrowingAtMaxReplicas", "eval_time": "20m",
             "exp_alerts": [alert("LLMStackQueueGrowingAtMaxReplicas", vllm_model)]},
            {"alertname": "LLMStackKVCacheNearFull", "eval_time": "20m",
             "exp_alerts": [alert("LLMStackKVCacheNearFull", vllm_model)]},
            {"alertname": "LLMStackTTFTOverSLO", "eval_time": "20m",
             "exp_alerts": [alert("LLMStackTTFTOverSLO", ray_model)]},
            {"alertname": "LLMStackErrorRatioHigh", "eval_time": "20m",
             "exp_alerts": [alert("LLMStackErrorRatioHigh", ray_model, severity="critical")]},
            {"alertname": "LLMStackNoReadyReplicas", "eval_time": "20m", "exp_alerts": []},
        ],
    }, {
        # nothing reports: after the cold start, both models alert
        "interval": "1m", "input_series": [{"series": 'up{job="x"}', "values": "1x40"}],
        "alert_rule_test": [{"alertname": "LLMStackNoReadyReplicas", "eval_time": "35m",
                             "exp_alerts": [alert("LLMStackNoReadyReplicas", m, severity="critical")
                                            for m in (ray_model, vllm_model)]}],
    }]
    out = promtool_test(tmp_path, objs, tests)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_is_annotated():
    for group in rule_groups(render(PROFILE_DIR / "multi-model.yaml")):
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
                assert rule["labels"]["severity"] in {"warning", "critical"}


def test_dashboards_ship_as_sidecar_config_maps():
    objs = render(PROFILE_DIR / "cpu-tiny.yaml")
    boards = [cm for cm in by_kind(objs, "ConfigMap") if cm["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(boards) == len(generate.dashboards.DASHBOARDS)
    uids = set()
    for cm in boards:
        ((name, text),) = cm["data"].items()
        board = json.loads(text)
        uids.add(board["uid"])
        assert cm["metadata"]["annotations"] == {"grafana_folder": "LLM Stack"}
        assert generate.dashboards.expressions(board), f"{name} has no queries"
    assert uids == {"llm-stack-overview", "llm-stack-model", "llm-stack-ray-serve", "llm-stack-gateway"}
    custom = render(PROFILE_DIR / "cpu-tiny.yaml", extra=("dashboards.label=my_dash", "dashboards.labelValue=yes"))
    assert all(cm["metadata"]["labels"]["my_dash"] == "yes" for cm in by_kind(custom, "ConfigMap")
               if cm["metadata"]["labels"].get("app.kubernetes.io/component") == "dashboard")
    off = render(PROFILE_DIR / "cpu-tiny.yaml", extra=("dashboards.enabled=false",))
    assert not [cm for cm in by_kind(off, "ConfigMap")
                if cm["metadata"]["labels"].get("app.kubernetes.io/component") == "dashboard"]


def test_dashboard_vllm_queries_read_both_metric_families():
    for text in generate.dashboards.rendered().values():
        for where, expr in generate.dashboards.expressions(json.loads(text)):
            if "vllm" in expr and "llm_gateway" not in expr:
                assert "ray_vllm_" in expr and "vllm:" in expr, f"{where}: reads one family only: {expr}"
