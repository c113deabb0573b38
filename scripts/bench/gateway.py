#!/usr/bin/env python3
"""`make bench-gateway`: the gateway's cost per request, side by side in one run.

Targets, all in front of the same FakeOpenAIUpstream: direct (no proxy), BareProxy (the ~50-line floor),
llm-gateway (auth + limits + metrics + routing + JSON access logs on), with --baseline REF the same gateway
as it was at a git revision (its code from a worktree, the same config), and LiteLLM proxy (its own venv,
one worker, master key). Each cell (target × concurrency × streaming) is a bounded closed-loop run of
scripts/bench/loadgen.py in its own process. Prints Markdown tables; numbers go to BENCHMARKS.md.
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

from llmstack.local import free_port, http_ok, start
from llmstack.local.gateway import start_gateway, write_config, write_keys
from llmstack.paths import ROOT

KEY = "sk-bench-0123456789"
LITELLM = ROOT / ".tools" / "litellm-venv" / "bin" / "litellm"


def gateway_under_test(tmp: Path, name: str, source: Path, procs: list) -> str:
    """The gateway from `source` (this checkout's, or a baseline's), on tmp's gateway.yaml."""
    port, proc = start_gateway(name, tmp / "gateway.yaml", tmp, env={"PYTHONPATH": str(source)})
    procs.append(proc)
    return f"http://127.0.0.1:{port}"


def start_targets(tmp: Path, baseline: Path | None = None) -> tuple[dict[str, str], list]:
    procs, urls = [], {}
    up = free_port()
    procs.append(start("upstream", [sys.executable, "-m", "llmstack.local.fake_upstream", "--port", str(up)],
                       tmp, http_ok(up, "/fake/stats")))
    urls["direct"] = f"http://127.0.0.1:{up}"
    bare = free_port()
    procs.append(start("bare", [sys.executable, str(ROOT / "scripts/bench/bare_proxy.py"), "--port", str(bare),
                                "--upstream", urls["direct"]], tmp, http_ok(bare, "/v1/x")))
    urls["bare-proxy"] = f"http://127.0.0.1:{bare}"

    keys = write_keys(tmp / "keys.yaml", {KEY: {"id": "bench", "models": ["bench-model"],
                                               "requestsPerMinute": 100_000_000, "tokensPerMinute": 10_000_000_000}})
    write_config(tmp / "gateway.yaml", [{"model": "bench-model",
                                          "backends": [{"name": "fake", "url": urls["direct"], "weight": 1}]}], keys)
    urls["llm-gateway"] = gateway_under_test(tmp, "gateway", ROOT / "images" / "gateway" / "src", procs)
    if baseline:
        urls["llm-gateway-baseline"] = gateway_under_test(tmp, "gateway-baseline", baseline / "images/gateway/src",
                                                          procs)

    if LITELLM.exists():
        (tmp / "litellm.yaml").write_text(yaml.safe_dump({
            "model_list": [{"model_name": "bench-model", "litellm_params": {
                "model": "openai/bench-model", "api_base": urls["direct"] + "/v1", "api_key": "fake"}}],
            "general_settings": {"master_key": KEY}}))
        ll = free_port()
        env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "NO_DOCS": "True"}
        procs.append(start("litellm", [str(LITELLM), "--config", str(tmp / "litellm.yaml"), "--host", "127.0.0.1",
                                       "--port", str(ll), "--num_workers", "1"], tmp,
                           http_ok(ll, "/health/liveliness"), timeout=180, env=env))
        urls["litellm"] = f"http://127.0.0.1:{ll}"
    else:
        print(f"note: LiteLLM not installed ({LITELLM}); run `make bench-gateway` to install it", file=sys.stderr)
    return urls, procs


def cell(url: str, concurrency: int, stream: bool, seconds: float) -> dict:
    cmd = [sys.executable, str(ROOT / "scripts/bench/loadgen.py"), "--url", url + "/v1/chat/completions",
           "--key", KEY, "--concurrency", str(concurrency), "--seconds", str(seconds)]
    if stream:
        cmd.append("--stream")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    if out.returncode != 0:
        return {"requests": 0, "errors": -1, "rps": 0, "p50": float("nan"), "p99": float("nan"),
                "ttfb_p50": float("nan"), "ttfb_p99": float("nan"), "stderr": out.stderr[-500:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per cell")
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--baseline", metavar="REF", help="also run the gateway as it was at this git revision")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        baseline = None
        if args.baseline:
            baseline = Path(tmp) / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(baseline), args.baseline], cwd=ROOT,
                           check=True)
        try:
            urls, procs = start_targets(Path(tmp), baseline)
        finally:
            if baseline:  # its code is loaded by now
                subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=False)
        try:
            for stream in (False, True):
                for c in levels:
                    for target, url in urls.items():  # interleaved: every target sees the same machine state
                        r = cell(url, c, stream, args.seconds)
                        r.update(target=target, concurrency=c, stream=stream)
                        results.append(r)
                        print(f"{'stream' if stream else 'json':6} c={c:<3} {target:20} {r['rps']:9.1f} req/s "
                              f"p50 {r['p50']:8.2f} ms p99 {r['p99']:8.2f} ms errors {r['errors']}",
                              file=sys.stderr, flush=True)
        finally:
            for p in procs:
                p.stop()
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))
    print(report(results))
    return 0


def report(results: list[dict]) -> str:
    lines = [f"Machine: {platform.node()}, {os.cpu_count()} cores, {platform.python_version()}, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    for stream in (False, True):
        rows = [r for r in results if r["stream"] == stream]
        lines += [f"**{'streaming, 32 chunks' if stream else 'non-streaming'}**", "",
                  "| concurrency | target | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | TTFB p50 ms |"
                  " added TTFB p50 ms | errors |", "|---|---|---|---|---|---|---|---|---|---|"]
        for c in sorted({r["concurrency"] for r in rows}):
            direct = next(r for r in rows if r["concurrency"] == c and r["target"] == "direct")
            for r in (r for r in rows if r["concurrency"] == c):
                lines.append(f"| {c} | {r['target']} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                             f"{r['p50'] - direct['p50']:+.2f} | {r['p99'] - direct['p99']:+.2f} | "
                             f"{r['ttfb_p50']:.2f} | {r['ttfb_p50'] - direct['ttfb_p50']:+.2f} | {r['errors']} |")
        lines.append("")
        lines += ["| concurrency | llm-gateway req/s ÷ LiteLLM req/s | llm-gateway req/s ÷ bare proxy req/s |",
                  "|---|---|---|"]
        for c in sorted({r["concurrency"] for r in rows}):
            by = {r["target"]: r for r in rows if r["concurrency"] == c}
            gw = by["llm-gateway"]["rps"]
            ll = by.get("litellm", {}).get("rps", 0)
            lines.append(f"| {c} | {gw / ll:.1f}× |" if ll else f"| {c} | n/a |")
            lines[-1] += f" {gw / by['bare-proxy']['rps']:.2f} |"
        lines.append("")
        if any(r["target"] == "llm-gateway-baseline" for r in rows):
            lines += ["| concurrency | llm-gateway req/s ÷ baseline req/s | added p50 ms, now / baseline |",
                      "|---|---|---|"]
            for c in sorted({r["concurrency"] for r in rows}):
                by = {r["target"]: r for r in rows if r["concurrency"] == c}
                now, before, direct = by["llm-gateway"], by["llm-gateway-baseline"], by["direct"]
                lines.append(f"| {c} | {now['rps'] / before['rps']:.2f} | {now['p50'] - direct['p50']:+.2f} / "
                             f"{before['p50'] - direct['p50']:+.2f} |")
            lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
