"""Run locust headless (in its own process: it monkey-patches with gevent) and turn its records into a report."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from llmstack.loadtest import report

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass
class Options:
    url: str
    models: list[str]
    out: Path
    key: str = ""
    users: int = 4
    duration_s: float = 30
    api: str = "chat"
    stream_share: float = 0.5
    prompt_words: str = "uniform:4-24"
    max_tokens: str = "32"
    shape: str = ""
    slos: list[tuple[str, float]] = field(default_factory=list)


def run(opts: Options, progress=print) -> tuple[dict, list[dict], list[Path]]:
    """Drive the load (bounded: locust stops at the duration, and is killed 60 s after it), then write the
    report. Returns (summary, SLO checks, files written)."""
    opts.out.mkdir(parents=True, exist_ok=True)
    records = opts.out / "records.jsonl"
    records.unlink(missing_ok=True)
    env = {**os.environ, "LOAD_MODELS": ",".join(opts.models), "LOAD_KEY": opts.key, "LOAD_API": opts.api,
           "LOAD_STREAM_SHARE": str(opts.stream_share), "LOAD_PROMPT_WORDS": opts.prompt_words,
           "LOAD_MAX_TOKENS": opts.max_tokens, "LOAD_RECORDS": str(records), "LOAD_SHAPE": opts.shape}
    locust = str(Path(sys.executable).parent / "locust")
    cmd = [locust, "-f", str(LOCUSTFILE), "--headless", "--host", opts.url.rstrip("/"), "--only-summary",
           "--stop-timeout", "30", "--loglevel", "WARNING"]
    if not opts.shape:
        cmd += ["-u", str(opts.users), "-r", str(opts.users), "-t", f"{opts.duration_s:g}s"]
    progress(f"loadtest: {opts.users if not opts.shape else opts.shape} user(s) for {opts.duration_s:g} s "
             f"against {opts.url} ({', '.join(opts.models)})")
    started = time.monotonic()
    with (opts.out / "locust.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while proc.poll() is None:
                time.sleep(1)
                elapsed = time.monotonic() - started
                if elapsed > opts.duration_s + 60:
                    proc.kill()
                    raise RuntimeError(f"locust did not stop {opts.duration_s + 60:.0f} s after its start")
                if int(elapsed) % 10 == 0:
                    done = sum(1 for _ in records.open()) if records.exists() else 0
                    progress(f"loadtest: {elapsed:.0f} s, {done} requests")
        finally:  # also on Ctrl-C or SIGTERM: locust is in its own session and would keep loading
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    rows = report.load_records(records)
    if not rows:
        raise RuntimeError("no request was sent: see " + str(opts.out / "locust.log") + "\n"
                           + (opts.out / "locust.log").read_text()[-2000:])
    summary = report.summarize(rows)
    checks = report.verdict(summary, opts.slos)
    meta = {"url": opts.url, "models": ",".join(opts.models), "api": opts.api, "users": opts.users,
            "shape": opts.shape or "fixed", "duration_s": opts.duration_s, "stream_share": opts.stream_share,
            "prompt_words": opts.prompt_words, "max_tokens": opts.max_tokens,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    files = report.write(rows, summary, checks, opts.out, meta)
    return summary, checks, files
