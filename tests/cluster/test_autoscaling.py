"""Autoscaling end to end: the real HPA controller scales a `vllm`-engine Deployment on queue depth that the
real prometheus-adapter (configured with this project's generated rule) reads from a real Prometheus, which
scrapes a real vLLM (CPU) process standing in for the Deployment's pod (relabeled with that pod's namespace
and name). A load step raises the queue; the HPA scales up, and back down once the scale-down window passed.

The engine, Prometheus and the adapter run inside the cluster's network namespace, beside the API server: the
adapter serves the aggregated API on the namespace's address (Endpoints refuse loopback), and the load comes
from this host over the namespace's veth pair."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
import threading
import time

import pytest
import yaml

from clusterkit import adapter_argv, install, register_custom_metrics
from llmstack.local import free_port, http_ok, start
from llmstack.paths import PROFILES
from servingkit import VLLM_ENV, model_config

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
NS, MODEL, TARGET, WINDOW_S = "autoscale", "tiny", 2, 30
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def adapter_config(tmp) -> str:
    rules = yaml.safe_load((PROFILES / "addons" / "prometheus-adapter.yaml").read_text())["rules"]["custom"]
    path = tmp / "adapter.yaml"
    path.write_text(yaml.safe_dump({"rules": rules}))
    return str(path)


def _seconds(timestamp: str) -> float:
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def test_the_hpa_scales_the_vllm_deployment_on_queue_depth_and_back(cluster, tmp_path, serving_python, tiny_model):
    values = {"models": [{"name": MODEL, "source": "hf://org/tiny", "engine": "vllm", "gpus": 0,
                          "coldStartSeconds": WINDOW_S,
                          "autoscaling": {"minReplicas": 1, "maxReplicas": 4, "targetQueueDepth": TARGET,
                                          "scaleUpStabilizationSeconds": 0,
                                          "scaleDownStabilizationSeconds": WINDOW_S}}],
              "modelCache": {"type": "emptyDir"}}
    install(cluster, "llm", NS, values)
    cluster.wait(lambda: [p for p in cluster.get("pods", NS)["items"] if p["status"].get("phase") == "Running"],
                 60, "the model pod Running")
    pod = cluster.get("pods", NS)["items"][0]["metadata"]["name"]
    (hpa,) = cluster.get("hpa", NS)["items"]
    deployment = hpa["spec"]["scaleTargetRef"]["name"]

    # the real engine standing in for that pod's metrics endpoint
    vllm_port, prom_port, adapter_port = free_port(), free_port(), free_port()
    config = model_config(tmp_path, tiny_model, MODEL, values=["models[0].vllm.maxNumSeqs=2"])
    inside, address = cluster.network.enter, cluster.network.address
    procs = [start("vllm", inside([str(serving_python), "-m", "llm_serving", "serve", "--config", str(config),
                                   "--host", address, "--port", str(vllm_port)]), tmp_path,
                   http_ok(vllm_port, "/v1/models", address),
                   # one thread: the control plane shares these 2 cores, and a slower engine queues sooner
                   timeout=300, env={**VLLM_ENV, "OMP_NUM_THREADS": "1"})]
    try:
        (tmp_path / "prometheus.yaml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": "vllm", "static_configs": [{
                "targets": [f"{address}:{vllm_port}"], "labels": {"namespace": NS, "pod": pod}}]}]}))
        procs.append(start("prometheus", inside([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yaml'}",
                                                 f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                                 f"--web.listen-address={address}:{prom_port}"]), tmp_path,
                           http_ok(prom_port, "/-/ready", address), timeout=60))
        procs.append(start("adapter", inside(adapter_argv(cluster, adapter_port, f"http://{address}:{prom_port}",
                                                          adapter_config(tmp_path), tmp_path / "adapter-certs")),
                           tmp_path, lambda: True, timeout=30))
        register_custom_metrics(cluster, adapter_port)
        metric = f"/apis/custom.metrics.k8s.io/v1beta1/namespaces/{NS}/pods/*/vllm_requests_waiting"

        def served() -> list:
            raw = cluster.kubectl("get", "--raw", metric, check=False)
            return json.loads(raw).get("items", []) if raw.startswith("{") else []
        cluster.wait(served, 90, "the queue-depth metric of the pod served by the adapter through the API server")

        timeline, stop = [], threading.Event()
        t0, started = time.monotonic(), time.time()

        def replicas() -> int:  # --raw: no API discovery, which would also ask the (busy) adapter
            raw = cluster.kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{NS}/deployments", check=False)
            return json.loads(raw)["items"][0]["spec"]["replicas"] if raw.startswith("{") else 0

        def watch():
            while not stop.is_set():
                items = served()
                timeline.append((time.monotonic() - t0, items[0]["value"] if items else "?", replicas()))
                stop.wait(3)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # the load step: `llmstack loadtest` (locust, its own process: gevent users need no GIL share of this
        # process) with 12 users in closed loop against maxNumSeqs 2, until the HPA reacts (at most 150 s); long
        # prompts and outputs keep each request in the engine a while
        load = subprocess.Popen([sys.executable, "-m", "llmstack.cli", "loadtest", "--url", f"http://{address}:{vllm_port}",
                                 "--model", MODEL, "--api", "completions", "--stream-share", "0", "--users", "12",
                                 "--duration", "150", "--prompt-words", "250", "--max-tokens", "300",
                                 "--out", str(tmp_path / "load")], stdout=subprocess.DEVNULL,
                                stderr=(tmp_path / "load.log").open("wb"), start_new_session=True)
        try:
            cluster.wait(lambda: replicas() > 1, 150, "the HPA scaling the Deployment up")
        except TimeoutError:
            print(timeline, cluster.kubectl("describe", "hpa", "-n", NS))
            raise
        finally:
            scaled_up = time.monotonic() - t0
            load.terminate()  # the step ends once the HPA has answered it; loadtest stops its locust
            load.wait(60)
        load_ended = time.monotonic() - t0
        cluster.wait(lambda: replicas() == 1, WINDOW_S + 45, "the HPA scaling back to minReplicas")
        scaled_down = time.monotonic() - t0
        stop.set()
        watcher.join(5)
        peak = max(r for _, _, r in timeline)
        print(f"HPA timeline ({deployment}, target {TARGET} waiting/pod, sync 5 s, scale-down window {WINDOW_S} s): "
              f"load from 0 s; replicas > 1 at {scaled_up:.1f} s; peak {peak}; load ended {load_ended:.1f} s; "
              f"back to 1 at {scaled_down:.1f} s")
        print("t(s) queue replicas: " + "; ".join(f"{t:.0f} {v} {r}" for t, v, r in timeline))
        # the controller's own record: up on the queue, down only a full stabilization window after that
        events = json.loads(cluster.kubectl("get", "events", "-n", NS, "--field-selector", "reason=SuccessfulRescale",
                                            "-o", "json"))["items"]
        rescales = sorted((e.get("lastTimestamp") or e.get("eventTime"), e["message"]) for e in events)
        print("rescale events: " + "; ".join(f"{t} {m}" for t, m in rescales))
        ups = [t for t, m in rescales if "above target" in m]
        downs = [t for t, m in rescales if "below target" in m]
        assert ups and downs, rescales
        held = _seconds(downs[-1]) - _seconds(ups[-1])
        print(f"HPA events: scaled up {_seconds(ups[0]) - started:.0f} s after the load step began, back to 1 "
              f"{held:.0f} s after that (stabilization window {WINDOW_S} s); event times have 1 s resolution")
        assert held >= WINDOW_S - 1, f"scaled down {held:.0f} s after the last scale-up: the window is {WINDOW_S} s"
    finally:
        for proc in reversed(procs):
            proc.stop(30)
