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

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from procs import Proc, free_port, http_ok, kill_session, start  # noqa: E402

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


def start_ray(model_dir: Path, tmp: Path) -> tuple[int, subprocess.Popen]:
    """A Ray head in its own session with the app deployed; on failure the whole session is killed."""
    gcs, dash, port = free_port(), free_port(), free_port()
    head = subprocess.Popen([str(VENV / "ray"), "start", "--head", "--block", "--num-cpus=4", f"--port={gcs}",
                             "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", f"--temp-dir={tmp}/ray",
                             "--min-worker-port=32000", "--max-worker-port=32999", "--disable-usage-stats"],
                            env={**os.environ, **ENV}, stdout=(tmp / "ray.log").open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        return port, _deploy(head, gcs, dash, port, model_dir, tmp)
    except BaseException:
        kill_session(head.pid)
        raise


def _deploy(head, gcs: int, dash: int, port: int, model_dir: Path, tmp: Path) -> subprocess.Popen:
    while subprocess.run([str(VENV / "ray"), "status", f"--address=127.0.0.1:{gcs}"], capture_output=True,
                         env={**os.environ, **ENV}).returncode != 0:
        time.sleep(1)
    serve = {"proxy_location": "EveryNode", "http_options": {"host": "127.0.0.1", "port": port},
             "applications": [{"name": "bench", "route_prefix": "/", "import_path": "llm_serving.ray_app:build_app",
                               "args": {"models": [model_config(model_dir, tmp / "cache", "ray", {})]}}]}
    (tmp / "serve.yaml").write_text(yaml.safe_dump(serve))
    deadline = time.monotonic() + 120
    while subprocess.run([str(VENV / "serve"), "deploy", str(tmp / "serve.yaml"), "-a", f"http://127.0.0.1:{dash}"],
                         capture_output=True, env={**os.environ, **ENV}).returncode != 0:
        if time.monotonic() > deadline:  # the dashboard's REST API comes up a little after the GCS
            raise RuntimeError("serve deploy kept failing for 120 s")
        time.sleep(2)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        out = subprocess.run([str(VENV / "serve"), "status", "-a", f"http://127.0.0.1:{dash}"], capture_output=True,
                             text=True, env={**os.environ, **ENV}).stdout
        if "status: RUNNING" in out and "DEPLOYING" not in out:
            return head
        time.sleep(3)
    raise RuntimeError("Ray Serve app not RUNNING after 600 s")


def cell(port: int, concurrency: int, stream: bool, seconds: float) -> dict:
    cmd = [sys.executable, str(ROOT / "scripts/bench/loadgen.py"), "--url",
           f"http://127.0.0.1:{port}/v1/chat/completions", "--model", "bench-model", "--concurrency",
           str(concurrency), "--seconds", str(seconds), "--warmup", "2", "--max-tokens", "32"]
    if stream:
        cmd.append("--stream")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="tiny,realistic")
    parser.add_argument("--seconds", type=float, default=10)
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
            head = None
            try:
                ray_port, head = start_ray(model_dir, tmp)
                for stream in (False, True):
                    for c in (1, 16):
                        for target, port in (("direct vLLM", direct_port), ("Ray Serve app", ray_port)):
                            r = cell(port, c, stream, args.seconds)
                            r.update(size=size, target=target, concurrency=c, stream=stream)
                            results.append(r)
                            print(f"{size} {'stream' if stream else 'json'} c={c} {target}: {r['rps']:.1f} req/s "
                                  f"p50 {r['p50']:.1f} ms ttfb {r['ttfb_p50']:.1f} ms", file=sys.stderr, flush=True)
            finally:
                direct.stop(30)
                subprocess.run([str(VENV / "ray"), "stop", "--force"], capture_output=True, env={**os.environ, **ENV})
                for pid in [head.pid] if head else []:
                    kill_session(pid)
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
