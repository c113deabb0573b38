"""What a hostile or broken world does to the gateway, against a real gateway process: key files that turn
invalid or vanish, answers larger than the pod's memory, made-up model names, compressed bombs, keys smuggled
into log lines, a dead Redis, a silent model server, clients that leave, gzip answers, deep JSON."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from gatewaykit import KEYS, Client, route, upstream_mode, upstream_stats, wait_until
from llmstack.local.gateway import write_keys
from llmstack.paths import GATEWAY_CHART, ROOT
from procs import free_port

pytestmark = pytest.mark.gateway
KEY = "sk-alpha-0123456789"


def metric(port: int, name: str) -> float:
    text = Client(port).request("GET", "/metrics")[2].decode()
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


@pytest.mark.parametrize("broken", ["just a string\n", "- a bare list\n",
                                    "keys:\n  - {sha256: " + "a" * 64 + ", requestsPerMinute: }\n", None])
def test_a_broken_or_missing_keys_file_is_reported_then_fails_closed(gateway, upstreams, broken):
    port, proc, _, keys_path = gateway([route("m", ("a", upstreams["a"], 1))], keysMaxStaleSeconds=3)
    client = Client(port)
    assert client.chat(model="m")[0] == 200
    if broken is None:
        keys_path.unlink()
    else:
        keys_path.write_text(broken)
    # reported: a log line, a metric, readiness; meanwhile the last good keys still serve
    assert wait_until(lambda: Client(port).request("GET", "/readyz")[0] == 503, timeout=5)
    assert "keys file invalid" in proc.output() and metric(port, "llm_gateway_keys_file_valid") == 0
    assert metric(port, "llm_gateway_keys_file_errors_total") >= 1
    assert client.chat(model="m")[0] == 200
    # for a bounded time only: then every key is refused
    assert wait_until(lambda: client.chat(model="m")[0] == 401, timeout=6)
    assert b"refusing every key" in Client(port).request("GET", "/readyz")[2]
    # a valid file takes effect at once, and an empty one revokes every key
    write_keys(keys_path, KEYS)
    assert wait_until(lambda: client.chat(model="m")[0] == 200, timeout=5)
    assert Client(port).request("GET", "/readyz")[0] == 200
    keys_path.write_text("keys: []\n")
    assert wait_until(lambda: client.chat(model="m")[0] == 401, timeout=5)


def test_a_revocation_after_a_broken_file_takes_effect(gateway, upstreams):
    port, _, _, keys_path = gateway([route("m", ("a", upstreams["a"], 1))])
    client = Client(port)
    keys_path.write_text("just a string\n")
    assert wait_until(lambda: Client(port).request("GET", "/readyz")[0] == 503, timeout=5)
    write_keys(keys_path, {k: v for k, v in KEYS.items() if k != KEY})  # alpha revoked
    assert wait_until(lambda: client.chat(model="m")[0] == 401, timeout=5)
    assert Client(port, "sk-beta-0123456789").chat(model="model-a")[0] in (200, 404)


def test_a_large_answer_passes_through_without_being_held_in_memory(gateway, upstreams):
    port, proc, *_ = gateway([route("m", ("a", upstreams["a"], 1))])
    client = Client(port)
    client.chat(model="m")
    before = rss_mib(proc.popen.pid)
    size = 256 << 20
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "fake": {"body_bytes": size}}),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    got, peak = 0, before
    while chunk := resp.read(1 << 20):
        got += len(chunk)
        peak = max(peak, rss_mib(proc.popen.pid))
    assert resp.status == 200 and got >= size
    assert peak - before < 64, f"RSS grew {peak - before:.0f} MiB relaying a {size >> 20} MiB answer"
    assert 'llm_gateway_tokens_total{direction="completion",key_id="alpha",model="m"}' in \
        client.request("GET", "/metrics")[2].decode()  # usage still read from the answer's end


def test_made_up_model_names_do_not_grow_the_metrics(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1))])
    client = Client(port)
    client.chat(model="m")
    size = len(client.request("GET", "/metrics")[2])
    for i in range(200):
        assert client.chat(model=f"made-up-{i}-" + "x" * 200)[0] == 404
    text = client.request("GET", "/metrics")[2].decode()
    assert "made-up" not in text and len(text) < size + 2000


def test_compressed_bodies_are_refused_before_anything_is_inflated(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1))])
    bomb = gzip.compress(b"{" + b" " * (256 << 20) + b"}", compresslevel=9)  # 256 MiB in ~256 KiB
    for key, status in ((None, 401), (KEY, 415)):
        client = Client(port, key)
        t0 = time.perf_counter()
        got = client.request("POST", "/v1/chat/completions", raw=bomb, headers={"Content-Encoding": "gzip"})[0]
        assert got == status and time.perf_counter() - t0 < 1.0
    assert Client(port).chat(model="m")[0] == 200


def test_keys_never_reach_the_logs(gateway, upstreams):
    port, proc, *_ = gateway([route("m", ("a", upstreams["a"], 1))])
    for stray in (b"\x00", b"\x7f", b"\r\n continued", b"\r"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode()
                      + stray + b"\r\nContent-Length: 2\r\n\r\n{}")
            assert s.recv(100).startswith(b"HTTP/1.")
    assert wait_until(lambda: "Error handling request" in proc.output(), timeout=5)
    assert KEY not in proc.output() and "[redacted]" in proc.output()
    assert Client(port).chat(model="m")[0] == 200


@pytest.mark.parametrize("mode, status", [("open", 200), ("closed", 503)])
def test_a_dead_redis_fails_as_configured(gateway, upstreams, mode, status):
    limited = {KEY: {"id": "alpha", "models": ["*"], "requestsPerMinute": 100}}
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1))], keys=limited,
                       redisUrl=f"redis://127.0.0.1:{free_port()}/0", redisFailure=mode)
    status_got, headers, body = Client(port).chat(model="m")
    assert status_got == status, body
    if mode == "closed":
        assert json.loads(body)["error"]["code"] == "limits_unavailable" and headers["Retry-After"]
    assert f'llm_gateway_limiter_errors_total{{failure_mode="{mode}"}}' in \
        Client(port).request("GET", "/metrics")[2].decode()


def test_a_silent_model_server_is_a_504_and_not_retried(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1), ("b", upstreams["b"], 0))],
                       upstream={"readTimeoutSeconds": 1})
    upstream_mode(upstreams["a"], delay=3)
    before = upstream_stats(upstreams["b"])["requests"]
    t0 = time.perf_counter()
    status, _, body = Client(port).chat(model="m")
    assert status == 504 and json.loads(body)["error"]["code"] == "upstream_timeout"
    assert time.perf_counter() - t0 < 2.5 and upstream_stats(upstreams["b"])["requests"] == before


def test_a_client_that_leaves_is_logged(gateway, upstreams):
    port, proc, *_ = gateway([route("m", ("a", upstreams["a"], 1))])
    upstream_mode(upstreams["a"], delay=2)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]}).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode()
                  + b"\r\nContent-Type: application/json\r\nx-request-id: leaver-1\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n" + body)
        time.sleep(0.3)
    assert wait_until(lambda: '"request_id": "leaver-1", ' in proc.output(), timeout=5)
    line = next(ln for ln in proc.output().splitlines() if '"request_id": "leaver-1"' in ln)
    assert json.loads(line)["status"] == 499 and json.loads(line)["abandoned"] is True


def test_a_gzip_answer_arrives_intact(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1))])
    status, headers, body = Client(port).chat(model="m", fake={"gzip": True})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(body))["model"] == "m"


def test_deeply_nested_json_is_a_400(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1))])
    status, _, body = Client(port).request("POST", "/v1/chat/completions", raw=b"[" * 100_000 + b"]" * 100_000)
    assert status == 400 and json.loads(body)["error"]["code"] == "invalid_json"
    assert Client(port).chat(model="m")[0] == 200


def mounted_as_the_kubelet_would(tmp: Path, text: str, default_mode: int, fs_group: int | None) -> Path:
    """A Secret file as the kubelet writes it: owned by root, group fsGroup (which also gets read) if set."""
    folder = tmp / "secret"
    folder.mkdir(mode=0o755)
    path = folder / "keys.yaml"
    path.write_text(text)
    os.chown(path, 0, fs_group or 0)
    path.chmod(default_mode | (0o440 if fs_group else 0))
    return path


def readable_copy(src: Path, dst: Path) -> Path:
    """A copy of a folder that any user can read: hard links (instant; the files are world-readable already),
    or a real copy where the two are on different filesystems."""
    if subprocess.run(["cp", "-al", str(src), str(dst)], capture_output=True).returncode != 0:
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
    return dst


def test_the_pod_user_reads_the_keys_the_chart_mounts(tmp_path):
    """The gateway's pod runs as a non-root user: the chart's Secret mode and fsGroup must let it read the keys
    (the real-node tier shows the same in a real pod)."""
    if os.geteuid() != 0:
        pytest.fail("needs root to write files as the kubelet does and run the gateway as the pod's user")
    from llmstack import helm, manifests

    objs = manifests.parse(helm.template(chart=GATEWAY_CHART, set_values=[
        "keys.existingSecret=k", "config.routes[0].model=m", "config.routes[0].backends[0].url=http://m:8000"]))
    (deploy,) = [o for o in objs if o["kind"] == "Deployment"]
    pod = deploy["spec"]["template"]["spec"]
    mode = next(v["secret"]["defaultMode"] for v in pod["volumes"] if v["name"] == "keys")
    user, group, fs_group = (pod["securityContext"].get(k) for k in ("runAsUser", "runAsGroup", "fsGroup"))
    tmp = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's own tmp_path is root's alone
    tmp.chmod(0o755)
    try:
        keys = mounted_as_the_kubelet_would(tmp, Path(write_keys(tmp_path / "k.yaml", KEYS)).read_text(), mode,
                                            fs_group)
        config = tmp / "gateway.yaml"
        config.write_text(yaml.safe_dump({"routes": [route("m", ("a", 1, 1))], "keysFile": str(keys)}))
        config.chmod(0o644)
        # the pod's user may not traverse the checkout (a clone under a private home): run from copies in tmp
        source = readable_copy(ROOT / "images/gateway/src", tmp / "src")
        site = readable_copy(next((ROOT / ".venv" / "lib").glob("python3*/site-packages")), tmp / "site-packages")
        pythonpath = {"PYTHONPATH": f"{source}:{site}"}
        run = subprocess.run(["/usr/bin/python3", "-m", "llm_gateway", "check-config", "--config", str(config)],
                             user=user, group=group, extra_groups=[fs_group] if fs_group else [],
                             env=pythonpath, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0 and run.stdout.startswith("ok: 1 route(s), 3 key(s)"), run.stderr
        # what the chart did before: 0400 and no fsGroup -- the reproduction of the review's finding
        keys.chmod(0o400)
        os.chown(keys, 0, 0)
        run = subprocess.run(["/usr/bin/python3", "-m", "llm_gateway", "check-config", "--config", str(config)],
                             user=user, group=group, env=pythonpath, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and "Permission denied" in run.stderr
    finally:
        shutil.rmtree(tmp)
