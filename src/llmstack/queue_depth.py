"""The queue-depth metric that scales engine: vllm Deployments, read from the chart's
files/queue-depth.yaml (the one definition the HPA, KEDA and prometheus-adapter share)."""

from __future__ import annotations

import functools
import re

import yaml

from llmstack.paths import STACK_CHART

DEFINITION = STACK_CHART / "files" / "queue-depth.yaml"


@functools.cache
def definition() -> dict:
    return yaml.safe_load(DEFINITION.read_text())


def query(group_by: str, matchers: str) -> str:
    """The PromQL with its BY and MATCHERS placeholders filled (as the chart's KEDA template does)."""
    return definition()["query"].replace("BY", group_by).replace("MATCHERS", matchers)


def adapter_rule() -> dict:
    """The prometheus-adapter rule (custom.metrics.k8s.io) that serves the HPA's Pods metric."""
    d = definition()
    return {
        "seriesQuery": d["seriesQuery"],
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": f"^{re.escape(d['seriesName'])}$", "as": d["metricName"]},
        "metricsQuery": query("<<.GroupBy>>", "<<.LabelMatchers>>"),
    }


def expand_adapter_query(metrics_query: str, series: str, label_matchers: str, group_by: str) -> str:
    """What prometheus-adapter sends to Prometheus for one HPA request: its Go template placeholders
    filled (`<<.Series>>`, `<<.LabelMatchers>>`, `<<.GroupBy>>`), e.g. for the pods of one Deployment:
    label_matchers='namespace="llm",pod=~"a|b",model_name="m"', group_by='pod'."""
    return (metrics_query.replace("<<.Series>>", series).replace("<<.LabelMatchers>>", label_matchers)
            .replace("<<.GroupBy>>", group_by))
