"""Grafana dashboards, generated with grafana-foundation-sdk and committed under
charts/llm-stack/dashboards/ (`make generate` rewrites them; a test fails when they drift).

Every vLLM query reads both metric families through `vllm()`: `vllm:*` from engine: vllm pods and
`ray_vllm_*` from vLLM inside Ray Serve. A model runs in one family only, so nothing is counted twice.
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DataSourceRef, VariableRefresh

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
SCOPE = 'namespace=~"$namespace",model_name=~"$model"'
QUANTILES = ("0.5", "0.95", "0.99")


def vllm(name: str, matchers: str = SCOPE) -> str:
    """A selector for one vLLM metric in both families."""
    return f'{{__name__=~"vllm:{name}|ray_vllm_{name}",{matchers}}}'


def query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def graph(title: str, unit: str, *queries: tuple[str, str], width: int = 12, description: str = ""):
    panel = (timeseries.Panel().title(title).unit(unit).span(width).height(8).datasource(DATASOURCE)
             .description(description))
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + i)))
    return panel


def single(title: str, unit: str, expr: str, description: str = ""):
    return (stat.Panel().title(title).unit(unit).span(4).height(4).datasource(DATASOURCE)
            .description(description).with_target(query(expr, title)))


def quantiles(histogram: str, by: str, matchers: str = SCOPE) -> list[tuple[str, str]]:
    """p50/p95/p99 of a vLLM histogram (both families), one series per `by` value."""
    return [(f"histogram_quantile({q}, sum by ({by}, le) (rate({vllm(histogram + '_bucket', matchers)}[{RATE}])))",
             f"p{round(float(q) * 100)} {{{{{by}}}}}") for q in QUANTILES]


def datasource_variable() -> db.DatasourceVariable:
    return db.DatasourceVariable("datasource").label("Data source").type("prometheus")


def label_variable(name: str, label: str, series: str, multi: bool = True) -> db.QueryVariable:
    variable = (db.QueryVariable(name).label(label).query(f"label_values({series}, {label})")
                .datasource(DATASOURCE).refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(1))
    if multi:
        variable = variable.multi(True).include_all(True).all_value(".*")
    return variable


def model_variables(multi_model: bool) -> list:
    running = 'num_requests_running'
    return [datasource_variable(),
            label_variable("namespace", "namespace", vllm(running, 'namespace!=""')),
            label_variable("model", "model_name", vllm(running, 'namespace=~"$namespace"'), multi=multi_model)]


def base(uid: str, title: str, description: str) -> db.Dashboard:
    return (db.Dashboard(title).uid(uid).description(description).tags(["llm-stack"]).refresh("30s")
            .time("now-1h", "now").tooltip(DashboardCursorSync.CROSSHAIR).timezone("browser").editable())


def serving_overview() -> db.Dashboard:
    by = "model_name"
    d = base("llm-stack-overview", "LLM Stack / Serving overview",
             "Every model of every llm-stack release: traffic, latency, tokens, queue, KV cache, replicas.")
    for v in model_variables(multi_model=True):
        d = d.with_variable(v)
    d = (d.with_row(db.Row("Now"))
         .with_panel(single("Requests/s", "reqps", f"sum(rate({vllm('request_success_total')}[{RATE}]))"))
         .with_panel(single("Output tokens/s", "short", f"sum(rate({vllm('generation_tokens_total')}[{RATE}]))"))
         .with_panel(single("Waiting requests", "short", f"sum({vllm('num_requests_waiting')})",
                            "Requests queued in the engines: what the HPA scales engine: vllm models on."))
         .with_panel(single("Running requests", "short", f"sum({vllm('num_requests_running')})"))
         .with_panel(single("Replicas reporting", "short", f"count({vllm('num_requests_running')})"))
         .with_panel(single("Max KV cache use", "percentunit", f"max({vllm('kv_cache_usage_perc')})"))
         .with_row(db.Row("Traffic"))
         .with_panel(graph("Requests/s by model", "reqps",
                           (f"sum by ({by}) (rate({vllm('request_success_total')}[{RATE}]))", f"{{{{{by}}}}}")))
         .with_panel(graph("Tokens/s by model", "short",
                           (f"sum by ({by}) (rate({vllm('prompt_tokens_total')}[{RATE}]))", f"prompt {{{{{by}}}}}"),
                           (f"sum by ({by}) (rate({vllm('generation_tokens_total')}[{RATE}]))",
                            f"output {{{{{by}}}}}")))
         .with_row(db.Row("Latency"))
         .with_panel(graph("Time to first token", "s", *quantiles("time_to_first_token_seconds", by), width=8))
         .with_panel(graph("Inter-token latency", "s", *quantiles("inter_token_latency_seconds", by), width=8))
         .with_panel(graph("End-to-end latency", "s", *quantiles("e2e_request_latency_seconds", by), width=8))
         .with_row(db.Row("Capacity"))
         .with_panel(graph("Queue depth and running", "short",
                           (f"sum by ({by}) ({vllm('num_requests_waiting')})", f"waiting {{{{{by}}}}}"),
                           (f"sum by ({by}) ({vllm('num_requests_running')})", f"running {{{{{by}}}}}"), width=8))
         .with_panel(graph("KV cache use", "percentunit",
                           (f"max by ({by}) ({vllm('kv_cache_usage_perc')})", f"{{{{{by}}}}}"), width=8))
         .with_panel(graph("Preemptions/s", "short",
                           (f"sum by ({by}) (rate({vllm('num_preemptions_total')}[{RATE}]))", f"{{{{{by}}}}}"),
                           width=8,
                           description="Requests evicted from the KV cache and recomputed: the cache is too small."))
         .with_panel(graph("Replicas by model", "short",
                           (f"count by ({by}) ({vllm('num_requests_running')})", f"{{{{{by}}}}}"),
                           description="Engines reporting metrics (pods of engine vllm, LLMServer replicas of "
                                       "engine ray).")))
    return d


def model_drilldown() -> db.Dashboard:
    d = base("llm-stack-model", "LLM Stack / Model", "One model: latency breakdown, queue, cache and pods.")
    for v in model_variables(multi_model=False):
        d = d.with_variable(v)
    pod = "pod"
    d = (d.with_row(db.Row("Requests"))
         .with_panel(graph("Finished requests/s by reason", "reqps",
                           (f"sum by (finished_reason) (rate({vllm('request_success_total')}[{RATE}]))",
                            "{{finished_reason}}"),
                           description="stop/length are normal; abort and error count as failures."))
         .with_panel(graph("Tokens/s", "short",
                           (f"sum(rate({vllm('prompt_tokens_total')}[{RATE}]))", "prompt"),
                           (f"sum(rate({vllm('generation_tokens_total')}[{RATE}]))", "output")))
         .with_row(db.Row("Latency"))
         .with_panel(graph("Time to first token", "s", *quantiles("time_to_first_token_seconds", "model_name"),
                           width=8))
         .with_panel(graph("Inter-token latency", "s", *quantiles("inter_token_latency_seconds", "model_name"),
                           width=8))
         .with_panel(graph("Queue time", "s", *quantiles("request_queue_time_seconds", "model_name"), width=8,
                           description="Time from arrival to first scheduling in the engine."))
         .with_row(db.Row("Pods"))
         .with_panel(graph("Waiting by reason", "short",
                           (f"sum by (reason) ({vllm('num_requests_waiting_by_reason')})", "{{reason}}"),
                           width=8, description="capacity: no room in the batch (what the HPA scales on); "
                                                "deferred: LoRA budget, KV transfer."))
         .with_panel(graph("Running by pod", "short",
                           (f"sum by ({pod}) ({vllm('num_requests_running')})", f"{{{{{pod}}}}}"), width=8))
         .with_panel(graph("KV cache use by pod", "percentunit",
                           (f"max by ({pod}) ({vllm('kv_cache_usage_perc')})", f"{{{{{pod}}}}}"), width=8)))
    return d


def ray_serve() -> db.Dashboard:
    scope = 'namespace=~"$namespace",application=~"$application"'
    by = "application, deployment"
    legend = "{{application}} {{deployment}}"
    d = base("llm-stack-ray-serve", "LLM Stack / Ray Serve",
             "engine: ray models: requests per deployment, queues, replicas and the autoscaler's decisions.")
    d = (d.with_variable(datasource_variable())
         .with_variable(label_variable("namespace", "namespace", 'ray_serve_deployment_status'))
         .with_variable(label_variable("application", "application",
                                       'ray_serve_deployment_status{namespace=~"$namespace"}'))
         .with_row(db.Row("Load"))
         .with_panel(graph("Requests/s per deployment", "reqps",
                           (f"sum by ({by}) (rate(ray_serve_deployment_request_counter_total{{{scope}}}[{RATE}]))",
                            legend)))
         .with_panel(graph("Ongoing and queued per deployment", "short",
                           (f"sum by ({by}) (ray_serve_num_ongoing_requests_at_replicas{{{scope}}})",
                            f"ongoing {legend}"),
                           (f"sum by ({by}) (ray_serve_deployment_queued_queries{{{scope}}})", f"queued {legend}"),
                           description="Queued: waiting in callers for a replica under max_ongoing_requests."))
         .with_panel(graph("Processing latency p95", "ms",
                           ("histogram_quantile(0.95, sum by (application, deployment, le) "
                            f"(rate(ray_serve_deployment_processing_latency_ms_bucket{{{scope}}}[{RATE}])))", legend)))
         .with_row(db.Row("Replicas and autoscaling"))
         .with_panel(graph("Running replicas", "short",
                           (f"count by ({by}) (ray_serve_replica_processing_queries{{{scope}}})", legend),
                           description="Replicas reporting (each live replica exports its processing gauge)."))
         .with_panel(graph("Autoscaling decisions", "short",
                           (f"max by ({by}) (ray_serve_autoscaling_target_replicas{{{scope}}})", f"target {legend}"),
                           (f"max by ({by}) (ray_serve_autoscaling_desired_replicas{{{scope}}})",
                            f"desired {legend}"),
                           description="desired: the policy's raw answer; target: after delays and bounds "
                                       "(upscale_delay_s / downscale_delay_s, min/max replicas).")))
    return d


def gateway() -> db.Dashboard:
    scope = 'namespace=~"$namespace"'
    d = base("llm-stack-gateway", "LLM Stack / Gateway", "llm-gateway: traffic by key, model, backend and status.")
    d = (d.with_variable(datasource_variable())
         .with_variable(label_variable("namespace", "namespace", "llm_gateway_requests_total"))
         .with_row(db.Row("Traffic"))
         .with_panel(graph("Requests/s by status", "reqps",
                           (f"sum by (status) (rate(llm_gateway_requests_total{{{scope}}}[{RATE}]))", "{{status}}"),
                           width=8))
         .with_panel(graph("Requests/s by key", "reqps",
                           (f"sum by (key_id) (rate(llm_gateway_requests_total{{{scope}}}[{RATE}]))", "{{key_id}}"),
                           width=8))
         .with_panel(graph("Requests/s by model and backend", "reqps",
                           (f"sum by (model, backend) (rate(llm_gateway_requests_total{{{scope}}}[{RATE}]))",
                            "{{model}} → {{backend}}"), width=8))
         .with_row(db.Row("Latency and tokens"))
         .with_panel(graph("Latency p95 by model", "s",
                           ("histogram_quantile(0.95, sum by (model, le) "
                            f"(rate(llm_gateway_request_duration_seconds_bucket{{{scope}}}[{RATE}])))",
                            "total {{model}}"),
                           ("histogram_quantile(0.95, sum by (model, le) "
                            f"(rate(llm_gateway_time_to_first_token_seconds_bucket{{{scope}}}[{RATE}])))",
                            "first token {{model}}"), width=8))
         .with_panel(graph("Tokens/s by key", "short",
                           (f"sum by (key_id, direction) (rate(llm_gateway_tokens_total{{{scope}}}[{RATE}]))",
                            "{{key_id}} {{direction}}"), width=8))
         .with_panel(graph("In flight", "short", (f"sum(llm_gateway_in_flight_requests{{{scope}}})", "in flight"),
                           width=8))
         .with_row(db.Row("Limits and backends"))
         .with_panel(graph("Rate-limited/s by key", "reqps",
                           (f"sum by (key_id, limit) (rate(llm_gateway_rate_limited_total{{{scope}}}[{RATE}]))",
                            "{{key_id}} {{limit}}"), width=8))
         .with_panel(graph("Upstream failures/s", "reqps",
                           (f"sum by (backend, reason) (rate(llm_gateway_upstream_errors_total{{{scope}}}[{RATE}]))",
                            "{{backend}} {{reason}}"), width=8))
         .with_panel(graph("Backends up", "short",
                           (f"min by (model, backend) (llm_gateway_backend_up{{{scope}}})", "{{model}} → {{backend}}"),
                           width=8, description="0 while the gateway has ejected the backend.")))
    return d


DASHBOARDS = {"serving-overview": serving_overview, "model-detail": model_drilldown, "ray-serve": ray_serve,
              "gateway": gateway}


def rendered() -> dict[str, str]:
    """File name under charts/llm-stack/dashboards/ -> its JSON text (stable: sorted keys)."""
    return {f"{name}.json": json.dumps(json.loads(JSONEncoder().encode(build().build())), indent=2, sort_keys=True)
            + "\n" for name, build in DASHBOARDS.items()}


def expressions(dashboard: dict) -> list[tuple[str, str]]:
    """(where, PromQL) for every query of a dashboard: panel targets and query variables."""
    found = []
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []) or []:
            if target.get("expr"):
                found.append((f"{dashboard['uid']}: {panel.get('title')} [{target.get('refId')}]", target["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        q = variable.get("query")
        if variable.get("type") == "query" and isinstance(q, str) and q.startswith("label_values("):
            series = q[len("label_values("):q.rindex(",")]
            found.append((f"{dashboard['uid']}: variable ${variable['name']}", series))
    return found
