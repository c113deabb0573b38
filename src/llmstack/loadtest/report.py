"""From per-request records to a summary, an SLO verdict, and JSON/CSV/Markdown/PNG report files."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

# metrics an SLO may name; latencies and error_rate are upper bounds, throughputs lower bounds
LOWER_BOUNDS = {"output_tokens_per_s", "requests_per_s"}
WINDOW_S = 5  # time bucket of the plots


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def load_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarize(records: list[dict]) -> dict:
    """Latencies in seconds: TTFT and inter-token latency from streaming requests (a JSON answer has no
    first token before its last), E2E from all successful ones; throughput over the records' span."""
    ok = [r for r in records if r["ok"]]
    streams = [r for r in ok if r["stream"] and r["ttft"] is not None]
    itl = [(r["e2e"] - r["ttft"]) / (r["output_tokens"] - 1) for r in streams if r["output_tokens"] > 1]
    span = (max(r["t"] + r["e2e"] for r in records) - min(r["t"] for r in records)) if records else 0.0
    tokens = sum(r["output_tokens"] for r in ok)
    summary = {
        "requests": len(records), "failures": len(records) - len(ok),
        "error_rate": (len(records) - len(ok)) / len(records) if records else 0.0,
        "duration_s": span, "output_tokens": tokens,
        "output_tokens_per_s": tokens / span if span else 0.0,
        "requests_per_s": len(ok) / span if span else 0.0,
        "streaming_requests": len(streams),
    }
    for name, values in (("ttft", [r["ttft"] for r in streams]), ("itl", itl), ("e2e", [r["e2e"] for r in ok])):
        for q in (50, 90, 95, 99):
            summary[f"{name}_p{q}"] = percentile(values, q)
    summary["errors"] = sorted({r["error"] for r in records if not r["ok"]})[:10]
    return summary


def parse_slo(text: str) -> tuple[str, float]:
    """`ttft_p95=500ms`, `e2e_p99=5s`, `error_rate=1%`, `output_tokens_per_s=100` -> (metric, value in
    seconds / ratio / per second)."""
    match = re.fullmatch(r"([a-z0-9_]+)\s*=\s*([\d.]+)\s*(ms|s|%)?", text.strip())
    if not match:
        raise ValueError(f"SLO {text!r}: use metric=value, e.g. ttft_p95=500ms, e2e_p99=5s, error_rate=1%")
    metric, value, unit = match.group(1), float(match.group(2)), match.group(3)
    known = {f"{m}_p{q}" for m in ("ttft", "itl", "e2e") for q in (50, 90, 95, 99)} | {"error_rate"} | LOWER_BOUNDS
    if metric not in known:
        raise ValueError(f"SLO {text!r}: unknown metric {metric!r}; use one of {', '.join(sorted(known))}")
    return metric, value / 1000 if unit == "ms" else value / 100 if unit == "%" else value


def verdict(summary: dict, slos: list[tuple[str, float]]) -> list[dict]:
    out = []
    for metric, limit in slos:
        value = summary.get(metric)
        # nothing measured (e.g. TTFT without streaming requests) cannot meet an SLO
        ok = value is not None and (value >= limit if metric in LOWER_BOUNDS else value <= limit)
        out.append({"metric": metric, "limit": limit, "value": value, "ok": ok})
    return out


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric.endswith(("_p50", "_p90", "_p95", "_p99")):
        return f"{value * 1000:.0f} ms"
    if metric == "error_rate":
        return f"{value * 100:.2f} %"
    return f"{value:.1f}"


def text_summary(summary: dict, checks: list[dict]) -> str:
    lines = [f"requests {summary['requests']} ({summary['failures']} failed, error rate "
             f"{_fmt('error_rate', summary['error_rate'])}) over {summary['duration_s']:.1f} s; "
             f"{summary['output_tokens_per_s']:.1f} output tokens/s, {summary['requests_per_s']:.2f} requests/s"]
    for name in ("ttft", "itl", "e2e"):
        lines.append(f"{name.upper():5} " + "  ".join(f"p{q} {_fmt(f'{name}_p{q}', summary[f'{name}_p{q}'])}"
                                                      for q in (50, 90, 95, 99)))
    for c in checks:
        op = ">=" if c["metric"] in LOWER_BOUNDS else "<="
        lines.append(f"SLO {c['metric']} {op} {_fmt(c['metric'], c['limit'])}: {_fmt(c['metric'], c['value'])} "
                     f"-> {'PASS' if c['ok'] else 'FAIL'}")
    if summary["errors"]:
        lines.append("errors: " + "; ".join(summary["errors"]))
    return "\n".join(lines)


def windows(records: list[dict]) -> list[dict]:
    """Per WINDOW_S bucket (by completion time): E2E/TTFT p50 and p95, output tokens/s, requests/s."""
    if not records:
        return []
    start = min(r["t"] for r in records)
    buckets: dict[int, list[dict]] = {}
    for r in records:
        buckets.setdefault(int((r["t"] + r["e2e"] - start) // WINDOW_S), []).append(r)
    out = []
    for index in sorted(buckets):
        ok = [r for r in buckets[index] if r["ok"]]
        ttft, e2e = [r["ttft"] for r in ok if r["ttft"] is not None], [r["e2e"] for r in ok]
        out.append({"t": (index + 0.5) * WINDOW_S, "e2e_p50": percentile(e2e, 50), "e2e_p95": percentile(e2e, 95),
                    "ttft_p50": percentile(ttft, 50), "ttft_p95": percentile(ttft, 95),
                    "output_tokens_per_s": sum(r["output_tokens"] for r in ok) / WINDOW_S,
                    "requests_per_s": len(ok) / WINDOW_S})
    return out


def plot(series: list[dict], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    t = [w["t"] for w in series]
    paths = []
    fig, ax = plt.subplots(figsize=(8, 4))
    for key, style in (("e2e_p50", "-"), ("e2e_p95", "--"), ("ttft_p50", "-"), ("ttft_p95", "--")):
        values = [w[key] * 1000 if w[key] is not None else float("nan") for w in series]
        ax.plot(t, values, style, marker=".", label=key.replace("_", " "))
    ax.set(xlabel="time since start (s)", ylabel="latency (ms)", title="Latency percentiles over time")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(out / "latency.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(t, [w["output_tokens_per_s"] for w in series], marker=".", label="output tokens/s")
    ax2 = ax.twinx()
    ax2.plot(t, [w["requests_per_s"] for w in series], "--", color="tab:orange", marker=".", label="requests/s")
    ax.set(xlabel="time since start (s)", ylabel="output tokens/s", title="Throughput over time")
    ax2.set_ylabel("requests/s")
    fig.legend(loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(out / "throughput.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def write(records: list[dict], summary: dict, checks: list[dict], out: Path, meta: dict) -> list[Path]:
    """summary.json, requests.csv, windows.csv, report.md and the PNG plots under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "summary.json", out / "requests.csv", out / "windows.csv", out / "report.md"]
    written[0].write_text(json.dumps({"meta": meta, "summary": summary, "slo": checks}, indent=2) + "\n")
    fields = ["t", "api", "stream", "model", "status", "ok", "error", "ttft", "e2e", "output_tokens",
              "requested_tokens"]
    with written[1].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    series = windows(records)
    with written[2].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(series[0]) if series else ["t"])
        writer.writeheader()
        writer.writerows(series)
    plots = plot(series, out) if series else []
    settings = "\n".join(f"| {k} | {v} |" for k, v in meta.items())
    slo_rows = "\n".join(f"| {c['metric']} | {_fmt(c['metric'], c['limit'])} | {_fmt(c['metric'], c['value'])} | "
                         f"{'PASS' if c['ok'] else 'FAIL'} |" for c in checks) or "| (none given) | | | |"
    written[3].write_text(f"""# Load test report

| setting | value |
|---|---|
{settings}

## Summary

```
{text_summary(summary, checks)}
```

## SLO verdict

| metric | limit | measured | verdict |
|---|---|---|---|
{slo_rows}

## Over time ({WINDOW_S} s windows)

{chr(10).join(f"![{p.stem}]({p.name})" for p in plots)}

Files: `summary.json` (everything above), `requests.csv` (one row per request), `windows.csv` (the plotted series).
""")
    return written + plots
