#!/usr/bin/env python3
"""`make bench-serving`: the Ray Serve path (llm_serving.ray_app, as the chart deploys it) against vLLM's own
OpenAI server (`llm-serving serve`), same model, same prompts, same machine, in one run.

For each model size (tiny, realistic) the servers run side by side; cells alternate between them
(concurrency 1 and 16, 32 output tokens, chat, non-streaming and streaming). Prints Markdown. The Ray Serve app
runs twice: as the chart deploys it by default, `ray.directStreaming: true` (HAProxy -> the LLMServer serving
vLLM's own app), and on Ray Serve LLM's stock path, `directStreaming: false` (Serve proxy -> OpenAiIngress ->
LLMServer); the direct-streaming app runs inside a network namespace of its own (HAProxy binds its stats and
metrics ports on every interface; needs root for `ip netns`).

`--gpu` runs the same comparison on one NVIDIA GPU with the CUDA build of vLLM (LLMSTACK_SERVING_VENV names its
environment; scripts/bench/serving-gpu.sh prepares one): the `small` model (~1 B parameters), CUDA graphs on,
each server given part of the GPU's memory so both fit side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from llmstack.local import SERVING_VENV, Proc, chart, free_port, http_ok, start
from llmstack.local.netns import NamespaceUnavailable, network_namespace
from llmstack.local.ray import ray_serve

ROOT = Path(__file__).resolve().parents[2]

VENV = SERVING_VENV / "bin"
ENV = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "2", "TOKENIZERS_PARALLELISM": "false",
       "VLLM_LOGGING_LEVEL": "WARNING", "RAY_USAGE_STATS_ENABLED": "0", "PATH": f"{VENV}:/usr/bin:/bin"}
GPU = False  # --gpu
# The chart's own model.json and Serve config for the cpu-tiny profile (llmstack.local.chart), as values: vLLM on
# a GPU with CUDA graphs on (as in production), the two servers sharing the GPU, so each takes 40 % of it
CPU_ENGINE = ("models[0].vllm.maxModelLen=1024",)
GPU_ENGINE = ("models[0].gpus=1", "models[0].vllm.maxModelLen=2048", "models[0].vllm.enforceEager=false",
              "models[0].vllm.gpuMemoryUtilization=0.4")
BENCH = ("models[0].name=bench-model", "drain.terminationGracePeriodSeconds=25", "models[0].autoscaling.maxReplicas=1",
         "models[0].autoscaling.maxOngoingRequests=64")


def values() -> tuple[str, ...]:
    return (*BENCH, *(GPU_ENGINE if GPU else CPU_ENGINE))


def start_direct(model_dir: Path, tmp: Path) -> tuple[int, Proc]:
    cfg = tmp / "direct.json"
    cfg.write_text(json.dumps(chart.model_json(f"file://{model_dir}", tmp / "cache", set_values=values())))
    port = free_port()
    proc = start("direct", [str(VENV / "python"), "-m", "llm_serving", "serve", "--config", str(cfg), "--host",
                            "127.0.0.1", "--port", str(port)], tmp, http_ok(port, "/v1/models"), timeout=600,
                 env=ENV)
    return port, proc


# what the chart sets on the Ray pods for `ray.directStreaming: true` (tests/chart/test_content.py checks the chart)
DIRECT_STREAMING_ENV = {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_LLM_ENABLE_DIRECT_STREAMING": "1",
                        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}


@contextmanager
def ray_app(model_dir: Path, tmp: Path, ray_env: dict, direct_streaming: bool) -> Iterator[str]:
    """The app the chart deploys, for this model, on a local Ray head; yields its base URL."""
    tmp.mkdir()
    host, port = ("0.0.0.0", 8000) if direct_streaming else ("127.0.0.1", free_port())
    serve = chart.serve_config(f"file://{model_dir}", tmp / "cache", {"host": host, "port": port},
                               set_values=values())
    env = {**os.environ, **ENV, **ray_env}
    if not direct_streaming:
        with ray_serve(serve, tmp, env, num_cpus=8 if GPU else 4, worker_ports=(29000, 29499), timeout=600):
            yield f"http://127.0.0.1:{port}"
        return
    env.update(DIRECT_STREAMING_ENV, RAY_SERVE_HAPROXY_SERVER_STATE_BASE=str(tmp / "haproxy"))
    with network_namespace("bench") as ns, ray_serve(serve, tmp, env, num_cpus=8 if GPU else 4,
                                                     worker_ports=(29500, 29999), timeout=600, netns=ns):
        yield f"http://{ns.address}:{port}"


def cell(base_url: str, concurrency: int, stream: bool, seconds: float) -> dict:
    cmd = [sys.executable, str(ROOT / "scripts/bench/loadgen.py"), "--url", f"{base_url}/v1/chat/completions",
           "--model", "bench-model", "--concurrency", str(concurrency), "--seconds", str(seconds), "--warmup", "2",
           "--max-tokens", "32"]
    if stream:
        cmd.append("--stream")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_cells(results: list[dict], size: str, targets: dict[str, str], seconds: float, concurrencies: list[int],
              modes: list[str]) -> None:
    """Every target, alternating cell by cell, so each sees the same machine state."""
    for stream in [mode == "stream" for mode in modes]:
        for c in concurrencies:
            for target, base_url in targets.items():
                r = cell(base_url, c, stream, seconds)
                r.update(size=size, target=target, concurrency=c, stream=stream)
                results.append(r)
                print(f"{size} {'stream' if stream else 'json'} c={c} {target}: {r['rps']:.1f} req/s "
                      f"p50 {r['p50']:.1f} ms ttfb {r['ttfb_p50']:.1f} ms", file=sys.stderr, flush=True)


def main() -> int:
    global GPU
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", help="model sizes of scripts/build_tiny_model.py (default tiny,realistic; "
                                        "small with --gpu)")
    parser.add_argument("--gpu", action="store_true", help="one NVIDIA GPU, the CUDA build of vLLM")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", default="1,16", help="comma-separated concurrencies")
    parser.add_argument("--modes", default="json,stream", help="json and/or stream (comma-separated)")
    parser.add_argument("--ray-env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment of the Ray cluster, e.g. RAY_SERVE_THROUGHPUT_OPTIMIZED=1 or "
                             "RAYLLM_MODEL_RESPONSE_BATCH_TIMEOUT_MS=100")
    parser.add_argument("--ray-apps", default="stock,direct-streaming",
                        help="which Ray Serve apps: direct-streaming (the chart's default) and/or stock "
                             "(directStreaming: false)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    GPU = args.gpu
    if GPU:  # the CUDA toolchain (Triton, FlashInfer) is found on the machine's own PATH
        ENV["PATH"] = f"{VENV}:{os.environ['PATH']}"
    results = []
    for size in (args.sizes or ("small" if GPU else "tiny,realistic")).split(","):
        model_dir = ROOT / ".tools" / "models" / size
        subprocess.run([str(VENV / "python"), str(ROOT / "scripts/build_tiny_model.py"), str(model_dir), "--size",
                        size], check=True, capture_output=True)
        with tempfile.TemporaryDirectory(prefix=f"bs-{size[:4]}-") as tmp, ExitStack() as running:
            tmp = Path(tmp)
            direct_port, direct = start_direct(model_dir, tmp)
            running.callback(direct.stop, 30)
            targets = {"direct vLLM": f"http://127.0.0.1:{direct_port}"}
            ray_env = dict(kv.split("=", 1) for kv in args.ray_env)
            for i, app in enumerate(args.ray_apps.split(",")):
                name = ("Ray Serve app, direct streaming (default)" if app == "direct-streaming"
                        else "Ray Serve app, stock path")
                try:
                    # short folder names: Ray's socket paths under them must stay < 108 bytes
                    targets[name] = running.enter_context(ray_app(model_dir, tmp / f"r{i}", ray_env,
                                                                  app == "direct-streaming"))
                except NamespaceUnavailable as err:
                    print(f"left out {name}: no network namespace for it ({err})", file=sys.stderr)
            run_cells(results, size, targets, args.seconds, [int(c) for c in args.concurrency.split(",")],
                      args.modes.split(","))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))
    print(report(results))
    return 0


def gpu_name() -> str:
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "GPU (nvidia-smi gave nothing)"


def report(results: list[dict]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"Machine: {platform.node()}, {os.cpu_count()} cores{', ' + gpu_name() if GPU else ''}; {when}", "",
             "| model | mode | concurrency | target | req/s | output tok/s | p50 ms | p99 ms | TTFT p50 ms |"
             " ratio to direct (req/s) | overhead per request p50 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        direct = next(d for d in results if d["size"] == r["size"] and d["stream"] == r["stream"]
                      and d["concurrency"] == r["concurrency"] and d["target"] == "direct vLLM")
        # a cell in which direct vLLM finished nothing (a machine far slower than the window) has no ratio
        ratio = f"{r['rps'] / direct['rps']:.2f}×" if direct["rps"] else "n/a"
        lines.append(f"| {r['size']} | {'stream' if r['stream'] else 'json'} | {r['concurrency']} | {r['target']} | "
                     f"{r['rps']:.1f} | {r['rps'] * 32:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['ttfb_p50']:.1f} | "
                     f"{ratio} | {r['p50'] - direct['p50']:+.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
