"""A real Prometheus (Debian's, 1 s scrape) scraping the real processes -- vLLM (CPU) standalone, the Ray Serve
app of the cpu-tiny profile, and the gateway in front of both -- under bounded locust load; then every PromQL
expression this project ships (dashboards, recording and alert rules, the prometheus-adapter rule with its
placeholders expanded as the adapter does, the KEDA query) is evaluated against that data, and the queue-depth
step response is fed through the HPA formula."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from chartkit import by_kind
from llmstack import dashboards, helm, queue_depth
from llmstack.local import chart
from llmstack.local.gateway import start_gateway, write_config, write_keys
from llmstack.local.ray import ray_serve
from llmstack.paths import PROFILES, ROOT
from procs import free_port, http_ok, kill_session, start
from servingkit import SERVING_VENV, VLLM_ENV

pytestmark = [pytest.mark.observability, pytest.mark.slow]

NS = "llm"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
SCRAPE_S = 1.0
TARGET_QUEUE = 2          # targetQueueDepth of the vllm model in these values
ENGINE_SEQS = 1           # the vllm model's maxNumSeqs
VLLM_USERS = 8            # locust users on the vllm model (and half as many on the Ray app)
SCALE_DOWN_WINDOW_S = 30  # its scaleDownStabilizationSeconds (== its coldStartSeconds, the schema minimum)
LOAD_S = 25
RAY_MODEL = "smollm2-135m-instruct"  # the cpu-tiny profile's model, served from the tiny weights
VLLM_MODEL = "tiny"
KEY, LIMITED_KEY = "sk-demo-0123456789", "sk-tight-0123456789"

# Expressions that may be all zeros under healthy load (they count failures, evictions or overflow);
# they must still return data.
MAY_BE_ZERO = ("num_preemptions", 'finished_reason=~"abort|error"', "queued_queries", "request_errors",
               "queue_depth", "num_requests_waiting")


def values_file(tmp: Path) -> Path:
    """Both engines in one release: the cpu-tiny Ray model and a vllm Deployment model, with alert
    tripwires (SLO and KV thresholds no real load can meet) so that those alerts must fire."""
    cpu_tiny = yaml.safe_load((PROFILES / "cpu-tiny.yaml").read_text())
    ray_model = cpu_tiny["models"][0]
    vllm_model = {"name": VLLM_MODEL, "source": "hf://org/tiny", "engine": "vllm", "gpus": 0,
                  "host": "tiny.localtest.me",
                  "coldStartSeconds": SCALE_DOWN_WINDOW_S,
                  # the engine, not its Python clients (locust, the gateway) on the same two cores, must be the
                  # bottleneck for a queue to stand: one sequence at a time
                  "vllm": {"dtype": "bfloat16", "maxModelLen": 1024, "enforceEager": True, "maxNumSeqs": ENGINE_SEQS},
                  "autoscaling": {"provider": "keda", "minReplicas": 1, "maxReplicas": 4,
                                  "targetQueueDepth": TARGET_QUEUE,
                                  "scaleDownStabilizationSeconds": SCALE_DOWN_WINDOW_S}}
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump({
        "models": [ray_model, vllm_model],
        "monitoring": {"alerts": {"for": "0s", "ttftP95Seconds": 0.0001, "kvCacheUsage": 0}}}))
    return path


def render(values: Path) -> list[dict]:
    text = helm.template([PROFILES / "cpu-tiny.yaml", values], api_versions=helm.OPTIONAL_API_VERSIONS)
    return [o for o in yaml.safe_load_all(text) if o]


class Prometheus:
    def __init__(self, port: int):
        self.port = port

    def _api(self, path: str, params: dict) -> list[dict]:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", f"{params['query']}: {body}"
        return body["data"]["result"]

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        return self._api("query", {"query": expr, **({"time": f"{at:.3f}"} if at else {})})

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[dict]:
        return self._api("query_range", {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                         "step": f"{step:g}"})

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as resp:
            return json.loads(resp.read())["data"]


def prometheus_config(tmp: Path, rules: list[dict], targets: dict[str, tuple[int, str]]) -> Path:
    (tmp / "rules.yaml").write_text(yaml.safe_dump({"groups": rules}))
    jobs = [{"job_name": job, "scrape_interval": f"{SCRAPE_S:g}s", "metrics_path": "/metrics",
             # what a PodMonitor adds: the pod's namespace and name
             "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"namespace": NS, "pod": pod}}]}
            for job, (port, pod) in targets.items()]
    config = {"global": {"scrape_interval": f"{SCRAPE_S:g}s", "evaluation_interval": "1s"},
              "rule_files": [str(tmp / "rules.yaml")], "scrape_configs": jobs}
    path = tmp / "prometheus.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def adapter_query(pod: str) -> str:
    """What prometheus-adapter sends for the HPA of the vllm model's Deployment (one pod here)."""
    rule = yaml.safe_load((PROFILES / "addons" / "prometheus-adapter.yaml").read_text())["rules"]["custom"][0]
    return queue_depth.expand_adapter_query(rule["metricsQuery"], queue_depth.definition()["seriesName"],
                                            f'namespace="{NS}",pod=~"{pod}",model_name="{VLLM_MODEL}"', "pod")


def hpa_desired(current: int, value: float, target: float, tolerance: float = 0.1, lowest: int = 1,
                highest: int = 4) -> int:
    """The HPA controller's formula for an AverageValue metric (default 10% tolerance), kept within
    minReplicas..maxReplicas of the vllm model here. No value (a scrape missed on two busy cores): the
    controller keeps the current count."""
    if math.isnan(value):
        return current
    ratio = value / target
    desired = current if abs(ratio - 1) <= tolerance else math.ceil(current * ratio)
    return max(lowest, min(highest, desired))


def source_waiting(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(float(m) for m in re.findall(r'^vllm:num_requests_waiting\{[^}]*\} (\S+)$', text, re.M))


def engine_cpus() -> tuple[int, int]:
    """Two different CPUs this process may run on, where it has two (the first and the last)."""
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[0], cpus[-1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, serving_python, tiny_model, realistic_model):
    tmp = tmp_path_factory.mktemp("o")  # short: Ray's socket paths under it must stay < 108 bytes
    objs = render(values_file(tmp))
    (rule,) = by_kind(objs, "PrometheusRule")
    (scaled,) = by_kind(objs, "ScaledObject")

    vllm_port, ray_http, ray_metrics, gw_port, prom_port = (free_port() for _ in range(5))
    # the vllm model's own model.json from this render, on a model with several ms of compute per token (with the
    # 3 M-parameter one the clients were the bottleneck and the queue stood only in the first burst)
    config = tmp / "vllm.json"
    config.write_text(json.dumps(chart.model_json(f"file://{realistic_model}", tmp / "cache", name=VLLM_MODEL,
                                                  objs=objs)))
    # vLLM (CPU) binds its engine's compute thread to the same first core in every engine it starts on this
    # machine ("auto"): the standalone engine, busy through the load, then starved the Ray app's engine (its
    # requests took the whole load in one CI run). One core each, as two pods would have.
    vllm_cpu, ray_cpu = (str(c) for c in engine_cpus())
    vllm = start("vllm", [str(serving_python), "-m", "llm_serving", "serve", "--config", str(config), "--host",
                          "127.0.0.1", "--port", str(vllm_port)], tmp, http_ok(vllm_port, "/v1/models"), timeout=300,
                 env={**VLLM_ENV, "VLLM_CPU_OMP_THREADS_BIND": vllm_cpu})
    serve = chart.serve_config(f"file://{tiny_model}", tmp / "cache", {"host": "127.0.0.1", "port": ray_http},
                               objs=objs)
    # Ray's processes report metrics to the node's exporter every 10 s by default: 1 s, to match the scrape
    ray_env = {**VLLM_ENV, "PATH": f"{SERVING_VENV}/bin:/usr/bin:/bin", "RAY_USAGE_STATS_ENABLED": "0",
               "RAY_metrics_report_interval_ms": "1000", "VLLM_CPU_OMP_THREADS_BIND": ray_cpu}
    procs = [vllm]
    try:
        with ray_serve(serve, tmp, ray_env, num_cpus=8, worker_ports=(30000, 30999), metrics_port=ray_metrics):
            keys = write_keys(tmp / "keys.yaml", {KEY: {"id": "demo", "models": ["*"]},
                                                 LIMITED_KEY: {"id": "tight", "models": ["*"],
                                                               "requestsPerMinute": 6}})
            # a backend that refuses connections: upstream failures, then ejection. On the route that answers
            # most requests (the Ray app's: the vllm model's standing queue lets only a few through), and out
            # for 2 s each time, so that it fails again and again while the load lasts
            dead = free_port()
            gw_config = write_config(tmp / "gateway.yaml", [
                {"model": VLLM_MODEL, "backends": [{"name": "vllm", "url": f"http://127.0.0.1:{vllm_port}",
                                                    "weight": 1}]},
                {"model": RAY_MODEL, "backends": [{"name": "ray", "url": f"http://127.0.0.1:{ray_http}", "weight": 3},
                                                  {"name": "dead", "url": f"http://127.0.0.1:{dead}",
                                                   "weight": 1}]}], keys, health={"ejectSeconds": 2})
            procs.append(start_gateway("gateway", gw_config, tmp, gw_port)[1])
            prom_cfg = prometheus_config(tmp, rule["spec"]["groups"], {
                "vllm": (vllm_port, "vllm-0"), "ray": (ray_metrics, "ray-head-0"), "gateway": (gw_port, "gateway-0")})
            procs.append(start("prometheus", [PROMETHEUS, f"--config.file={prom_cfg}",
                                              f"--storage.tsdb.path={tmp / 'tsdb'}",
                                              f"--web.listen-address=127.0.0.1:{prom_port}"], tmp,
                               http_ok(prom_port, "/-/ready"), timeout=60))
            prom = Prometheus(prom_port)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                up = prom.query("up")
                if len(up) == 3 and all(s["value"][1] == "1" for s in up):
                    break
                time.sleep(1)
            else:
                pytest.fail(f"scrape targets not all up: {up}")
            result = drive_load(tmp, prom, gw_port, vllm_port)
            yield {"prom": prom, "objs": objs, "rule": rule, "scaled": scaled, **result}
    finally:
        for proc in reversed(procs):
            proc.stop(30)


def drive_load(tmp: Path, prom: Prometheus, gw_port: int, vllm_port: int) -> dict:
    """Bounded locust load through the gateway (two users on the vllm model for one on the Ray app: 8 against
    maxNumSeqs 1, so up to 7 wait); meanwhile sample the engine's own queue gauge and what the HPA would read
    (the adapter's query through Prometheus), twice per scrape interval."""
    query = adapter_query("vllm-0")
    baseline = prom.query(query)
    # (time, value) pairs, each stamped at the middle of its own call: on two busy cores one call can take a
    # good part of a second, and stamping both readings with the start of the first would shift the step
    engine: list[tuple[float, float]] = []   # waiting at the engine itself
    hpa_view: list[tuple[float, float]] = []  # the adapter's query through Prometheus
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            t0 = time.time()
            waiting = source_waiting(vllm_port)
            t1 = time.time()
            result = prom.query(query)
            t2 = time.time()
            engine.append(((t0 + t1) / 2, waiting))
            hpa_view.append(((t1 + t2) / 2, float(result[0]["value"][1]) if result else math.nan))
            stop.wait(SCRAPE_S / 2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # the rate-limited key's user sends to the first model: the Ray app's, which answers fast, so that the key
    # passes its limit within the load (behind the vllm model's standing queue it sent two requests in 25 s)
    env = {**os.environ, "LOAD_MODELS": f"{RAY_MODEL},{VLLM_MODEL},{VLLM_MODEL}", "LOAD_KEY": KEY,
           "LOAD_LIMITED_KEY": LIMITED_KEY,
           "LOAD_MAX_TOKENS": "32"}
    users = VLLM_USERS + VLLM_USERS // 2 + 1  # and the one user of the limited key
    locust = [str(Path(sys.executable).parent / "locust"), "-f", str(ROOT / "src/llmstack/loadtest/locustfile.py"),
              "--headless", "-u", str(users), "-r", str(users), "-t", f"{LOAD_S}s", "--host", f"http://127.0.0.1:{gw_port}",
              "--only-summary", "--json-file", str(tmp / "locust"), "--stop-timeout", "30"]
    time.sleep(3)
    started = time.time()
    proc = subprocess.Popen(locust, env=env, cwd=tmp, stdout=(tmp / "locust.log").open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        rc = proc.wait(timeout=LOAD_S + 90)
    finally:
        if proc.poll() is None:
            kill_session(proc.pid)
    ended = time.time()
    time.sleep(SCALE_DOWN_WINDOW_S + 10)  # the queue drains; the scale-down window passes
    stop.set()
    sampler.join(10)
    stats = json.loads((tmp / "locust.json").read_text())
    return {"baseline": baseline, "engine": engine, "hpa_view": hpa_view, "load_started": started, "load_ended": ended,
            "locust_rc": rc, "locust": stats, "locust_log": (tmp / "locust.log").read_text()[-3000:]}


def substitute(expr: str) -> str:
    """Grafana's variables as a user with 'All' selected would send them."""
    return (expr.replace("$__rate_interval", "1m").replace("$namespace", NS).replace("$model", ".*")
            .replace("$application", ".*"))


def shipped_expressions(stack) -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "charts/llm-stack/dashboards").glob("*.json")):
        found += [(where, substitute(expr)) for where, expr in dashboards.expressions(json.loads(path.read_text()))]
    for group in stack["rule"]["spec"]["groups"]:
        for r in group["rules"]:
            if "record" in r:
                found += [(f"record {r['record']}", r["expr"]), (f"recorded series {r['record']}", r["record"])]
    found.append(("prometheus-adapter rule (expanded)", adapter_query("vllm-0")))
    found.append(("KEDA ScaledObject query", stack["scaled"]["spec"]["triggers"][0]["metadata"]["query"]))
    return found


def test_locust_load_ran_clean(stack):
    requests = sum(s["num_requests"] for s in stack["locust"])
    failures = sum(s["num_failures"] for s in stack["locust"])
    print(f"locust: {requests} requests, {failures} failures; "
          + ", ".join(f"{s['name']}: {s['num_requests']}" for s in stack["locust"]))
    assert stack["locust_rc"] == 0, stack["locust_log"]
    assert requests > 50 and failures == 0


def under_load(stack) -> float:
    """A moment well inside the load (locust's own start and shutdown take a few seconds)."""
    return stack["load_started"] + LOAD_S * 0.7


def raw_series(prom: Prometheus, expr: str, start: float, end: float) -> str:
    """What a rate() saw: each underlying counter's first and last sample in the window (diagnostics)."""
    names = set(re.findall(r"\b(ray_\w+|vllm:\w+|llm_gateway_\w+)\{", expr))
    out = []
    for name in sorted(names):
        for series in prom.query_range(name, start - 60, end, step=5):
            (t0, v0), (t1, v1) = series["values"][0], series["values"][-1]
            labels = ",".join(f"{k}={v}" for k, v in series["metric"].items() if k != "__name__")
            out.append(f"{name}{{{labels}}}: {v0} at {t0 - start:+.0f}s .. {v1} at {t1 - start:+.0f}s")
    return "; ".join(out) or "none"


def test_every_shipped_expression_returns_data_under_load(stack):
    """Each expression, evaluated every second from the load's start until the scale-down window after it
    (gauges are instants: one scrape may catch an idle moment; Ray's processes report their counters to the
    node's exporter with a lag that grows under CPU contention, so a rate may show only after the load),
    must return data, and something other than zero where the load must show."""
    prom = stack["prom"]
    start, end = stack["load_started"] + 5, stack["load_ended"] + SCALE_DOWN_WINDOW_S
    empty, zeros = [], []
    expressions = shipped_expressions(stack)
    for where, expr in expressions:
        result = prom.query_range(expr, start, end)
        values = [float(v) for series in result for _, v in series["values"]]
        if not result:
            empty.append(f"{where}: {expr}")
        elif (not any(v and not math.isnan(v) for v in values) and not any(z in expr for z in MAY_BE_ZERO)
              and "variable $" not in where):  # a variable only lists label values
            zeros.append(f"{where}: {expr}\n    its series over the window: {raw_series(prom, expr, start, end)}")
    print(f"evaluated {len(expressions)} expressions every second over {end - start:.0f}s (load and after)")
    assert not empty, "no data:\n" + "\n".join(empty)
    assert not zeros, "only zeros under load:\n" + "\n".join(zeros)


def test_the_queue_shows_under_load_in_both_the_adapter_and_keda_queries(stack):
    prom, at = stack["prom"], under_load(stack)
    # a missed scrape reads NaN, which max() would keep or drop depending on where it falls
    peak = max(v for t, v in stack["hpa_view"] if stack["load_started"] <= t <= stack["load_ended"]
               and not math.isnan(v))
    assert peak > TARGET_QUEUE, f"the queue never passed the target ({TARGET_QUEUE}): peak {peak}"
    keda = stack["scaled"]["spec"]["triggers"][0]["metadata"]["query"]
    assert float(prom.query(keda, at)[0]["value"][1]) == float(prom.query(adapter_query("vllm-0"), at)[0]["value"][1])


def test_alert_rules_evaluate_and_the_tripwired_ones_fire(stack):
    rules = [r for g in stack["prom"].get("/api/v1/rules")["groups"] for r in g["rules"] if r["type"] == "alerting"]
    unhealthy = [f"{r['name']}: {r.get('lastError')}" for r in rules if r["health"] != "ok"]
    assert not unhealthy, unhealthy
    firing = {r["name"] for r in rules if r["state"] == "firing"}
    print(f"alerts firing after the load: {sorted(firing)}")
    assert {"LLMStackKVCacheNearFull", "LLMStackTTFTOverSLO"} <= {r["name"] for r in rules}
    # history: both tripwired alerts fired during the load (ALERTS is Prometheus' own series). The KV-cache
    # gauge is an instant: between two requests it can read 0, so look over the whole load, not at one moment
    fired = {s["metric"]["alertname"] for s in stack["prom"].query_range(
        'ALERTS{alertstate="firing"}', stack["load_started"], stack["load_ended"])}
    assert {"LLMStackKVCacheNearFull", "LLMStackTTFTOverSLO"} <= fired, fired
    # healthy engines: nothing reports missing replicas or failures (promtool's unit tests make them fire)
    assert not fired & {"LLMStackNoReadyReplicas", "LLMStackErrorRatioHigh"}


SUSTAIN_S = 2 * SCRAPE_S


def sustained_step(engine: list[tuple[float, float]], after: float) -> float | None:
    """When the engine's queue first stays above the target through every sample of SUSTAIN_S seconds: a
    step that any scrape in that time must see. A momentary spike between two scrapes is no step -- the
    HPA cannot and should not react to it."""
    for i, (t, waiting) in enumerate(engine):
        if t < after or waiting <= TARGET_QUEUE:
            continue
        window = [w for s, w in engine[i:] if s <= t + SUSTAIN_S]
        if engine[-1][0] >= t + SUSTAIN_S and all(w > TARGET_QUEUE for w in window):
            return t
    return None


def queue_samples(engine: list[tuple[float, float]], started: float, ended: float) -> str:
    """The engine's queue over the load, one `+seconds:waiting` per sample (diagnostics)."""
    return " ".join(f"+{t - started:.1f}:{w:g}" for t, w in engine if started <= t <= ended)


def test_queue_step_raises_the_hpa_recommendation_within_two_scrapes_and_it_falls_back(stack):
    engine, hpa_view, started, ended = stack["engine"], stack["hpa_view"], stack["load_started"], stack["load_ended"]
    assert stack["baseline"] and float(stack["baseline"][0]["value"][1]) == 0, "queue not empty before the load"
    step = sustained_step(engine, started)
    assert step is not None, (f"the engine's queue never stayed above {TARGET_QUEUE} for {SUSTAIN_S:g}s; "
                              f"its samples during the load: {queue_samples(engine, started, ended)}")
    scaled = next(t for t, v in hpa_view if t >= step and hpa_desired(1, v, TARGET_QUEUE) > 1)
    lag = scaled - step
    # back to 0 once the load ends; the HPA keeps the highest recommendation of its scale-down window
    drained = next(t for t, v in hpa_view if t > ended and v == 0)
    window = [hpa_desired(1, v, TARGET_QUEUE) for t, v in hpa_view if drained - SCALE_DOWN_WINDOW_S <= t <= drained]
    after = [hpa_desired(1, v, TARGET_QUEUE) for t, v in hpa_view if t >= drained + SCALE_DOWN_WINDOW_S]
    peak = max(hpa_desired(1, v, TARGET_QUEUE) for _, v in hpa_view)
    print(f"step response: engine queue > {TARGET_QUEUE} for {SUSTAIN_S:g}s from +{step - started:.1f}s of the "
          f"load; HPA recommendation > 1 {lag:.1f}s later (scrape {SCRAPE_S:g}s); peak recommendation {peak} "
          f"replicas; queue 0 again {drained - ended:.1f}s after the load; recommendation back to 1 "
          f"{SCALE_DOWN_WINDOW_S}s (scale-down window) after that; engine queue samples (+s:waiting) "
          f"{queue_samples(engine, started, ended)}")
    # two scrapes, plus the half-scrape period at which this test samples
    assert lag <= 2 * SCRAPE_S + SCRAPE_S / 2, f"recommendation rose {lag:.1f}s after the step"
    assert max(window) > 1 or drained - ended < 1, "the window before the drain held no scale-up"
    assert after and set(after) == {1}, f"recommendation did not fall back: {after}"
