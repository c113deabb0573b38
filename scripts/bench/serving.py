#!/usr/bin/env python3
"""`make bench-serving`: the Ray Serve path (llm_serving.ray_app, as the chart deploys it) against vLLM's own
OpenAI server (`llm-serving serve`), same model, same prompts, same machine, in one run.

For each model size (tiny, realistic) both servers run side by side; cells alternate between them
(concurrency 1 and 16, 32 output tokens, chat, non-streaming and streaming). Prints Markdown.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from procs import Proc, free_port, http_ok, start  # noqa: E402
from servingkit import ray_serve  # noqa: E402

VENV = ROOT / ".tools" / "serving-venv" / "bin"
ENV = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "2", "TOKENIZERS_PARALLELISM": "false",
       "VLLM_LOGGING_LEVEL": "WARNING", "RAY_USAGE_STATS_ENABLED": "0", "PATH": f"{VENV}:/usr/bin:/bin"}


def model_config(model_dir: Path, cache: Path, engine: str, ray_options: dict) -> dict:
    return {"name": "bench-model", "source": f"file://{model_dir}", "engine": engine, "gpus": 0,
            "cacheDir": str(cache), "drainSeconds": 10,
            "vllm": {"dtype": "bfloat16", "maxModelLen": 1024, "enforceEager": True},
            "deploymentConfig": {"max_ongoing_requests": 64, "autoscaling_config": {"min_replicas": 1,
                                                                                     "max_replicas": 1}},
            **ray_options}


def start_direct(model_dir: Path, tmp: Path) -> tuple[int, Proc]:
    cfg = tmp / "direct.json"
    cfg.write_text(json.dumps(model_config(model_dir, tmp / "cache", "vllm", {})))
    port = free_port()
    proc = start("direct", [str(VENV / "python"), "-m", "llm_serving", "serve", "--config", str(cfg), "--host",
                            "127.0.0.1", "--port", str(port)], tmp, http_ok(port, "/v1/models"), timeout=300,
                 env=ENV)
    return port, proc


def ray_app(model_dir: Path, tmp: Path, port: int, ray_env: dict):
    """The app the chart deploys, for this model, on a local Ray head (a context manager)."""
    serve = {"proxy_location": "EveryNode", "http_options": {"host": "127.0.0.1", "port": port},
             "applications": [{"name": "bench", "route_prefix": "/", "import_path": "llm_serving.ray_app:build_app",
                               "args": {"models": [model_config(model_dir, tmp / "cache", "ray", {})]}}]}
    return ray_serve(serve, tmp, {**os.environ, **ENV, **ray_env}, num_cpus=4, worker_ports=(29000, 29999), timeout=600)


def cell(port: int, concurrency: int, stream: bool, seconds: float) -> dict:
    cmd = [sys.executable, str(ROOT / "scripts/bench/loadgen.py"), "--url",
           f"http://127.0.0.1:{port}/v1/chat/completions", "--model", "bench-model", "--concurrency",
           str(concurrency), "--seconds", str(seconds), "--warmup", "2", "--max-tokens", "32"]
    if stream:
        cmd.append("--stream")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_cells(results: list[dict], size: str, direct_port: int, ray_port: int, seconds: float,
              concurrencies: list[int]) -> None:
    """Both targets, alternating cell by cell, so each sees the same machine state."""
    for stream in (False, True):
        for c in concurrencies:
            for target, port in (("direct vLLM", direct_port), ("Ray Serve app", ray_port)):
                r = cell(port, c, stream, seconds)
                r.update(size=size, target=target, concurrency=c, stream=stream)
                results.append(r)
                print(f"{size} {'stream' if stream else 'json'} c={c} {target}: {r['rps']:.1f} req/s "
                      f"p50 {r['p50']:.1f} ms ttfb {r['ttfb_p50']:.1f} ms", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="tiny,realistic")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", default="1,16", help="comma-separated concurrencies")
    parser.add_argument("--ray-env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment of the Ray cluster, e.g. RAY_SERVE_THROUGHPUT_OPTIMIZED=1 or "
                             "RAYLLM_MODEL_RESPONSE_BATCH_TIMEOUT_MS=100")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    results = []
    for size in args.sizes.split(","):
        model_dir = ROOT / ".tools" / "models" / size
        subprocess.run([str(VENV / "python"), str(ROOT / "scripts/build_tiny_model.py"), str(model_dir), "--size",
                        size], check=True, capture_output=True)
        with tempfile.TemporaryDirectory(prefix=f"bench-serving-{size}-") as tmp:
            tmp = Path(tmp)
            direct_port, direct = start_direct(model_dir, tmp)
            ray_port = free_port()
            try:
                ray_env = dict(kv.split("=", 1) for kv in args.ray_env)
                with ray_app(model_dir, tmp, ray_port, ray_env):
                    run_cells(results, size, direct_port, ray_port, args.seconds,
                              [int(c) for c in args.concurrency.split(",")])
            finally:
                direct.stop(30)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))
    print(report(results))
    return 0


def report(results: list[dict]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"Machine: {platform.node()}, {os.cpu_count()} cores; {when}", "",
             "| model | mode | concurrency | target | req/s | output tok/s | p50 ms | p99 ms | TTFT p50 ms |"
             " ratio to direct (req/s) | overhead per request p50 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        direct = next(d for d in results if d["size"] == r["size"] and d["stream"] == r["stream"]
                      and d["concurrency"] == r["concurrency"] and d["target"] == "direct vLLM")
        lines.append(f"| {r['size']} | {'stream' if r['stream'] else 'json'} | {r['concurrency']} | {r['target']} | "
                     f"{r['rps']:.1f} | {r['rps'] * 32:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['ttfb_p50']:.1f} | "
                     f"{r['rps'] / direct['rps']:.2f}× | {r['p50'] - direct['p50']:+.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
