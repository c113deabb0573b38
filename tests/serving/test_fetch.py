"""Model fetch and cache for real: an S3-compatible server (moto, on loopback) holds the model; the real
`llm-serving fetch` downloads it (s3fs), marks it, reuses it, repairs it, resumes it, and lets a second
concurrent replica wait on the lock instead of downloading twice."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from procs import free_port, start, tcp_open
from servingkit import SERVING_VENV

pytestmark = [pytest.mark.serving]

BUCKET = "models"
FILES = {"config.json": b'{"architectures": ["LlamaForCausalLM"]}', "tokenizer.json": b"{}" * 1000,
         "model.safetensors": bytes(range(256)) * 4096}
AWS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3(serving_python, serving_logs):
    """A moto S3 server with s3://models/org/tiny/{config.json, tokenizer.json, model.safetensors}."""
    port = free_port()
    proc = start("moto-s3", [str(SERVING_VENV / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                 serving_logs, tcp_open(port), timeout=60)
    endpoint = f"http://127.0.0.1:{port}"
    seed = textwrap.dedent(f"""
        import boto3, json, sys
        files = json.loads(sys.stdin.read())
        s3 = boto3.client("s3", endpoint_url="{endpoint}")
        s3.create_bucket(Bucket="{BUCKET}")
        for name, hexdata in files.items():
            s3.put_object(Bucket="{BUCKET}", Key="org/tiny/" + name, Body=bytes.fromhex(hexdata))
    """)
    subprocess.run([str(serving_python), "-c", seed], input=json.dumps({k: v.hex() for k, v in FILES.items()}),
                   text=True, check=True, env={**AWS, "PATH": "/usr/bin:/bin"}, timeout=60)
    yield endpoint, proc
    proc.stop()


def fetch(serving_python, config, endpoint, *extra, background=False):
    env = {**AWS, "AWS_ENDPOINT_URL": endpoint, "PATH": "/usr/bin:/bin"}
    cmd = [str(serving_python), "-m", "llm_serving", "fetch", "--config", str(config), *extra]
    if background:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"name": "tiny", "source": f"s3://{BUCKET}/org/tiny", "gpus": 0,
                                "cacheDir": str(tmp_path / "cache")}))
    return path


def test_first_fetch_downloads_and_marks_the_copy(serving_python, s3, config, tmp_path):
    proc = fetch(serving_python, config, s3[0])
    assert proc.returncode == 0, proc.stderr
    dest = tmp_path / "cache" / "s3" / BUCKET / "org" / "tiny"
    assert proc.stdout.strip() == str(dest)
    for name, data in FILES.items():
        assert (dest / name).read_bytes() == data
    marker = json.loads((dest / ".llm-stack-complete.json").read_text())
    assert marker["source"] == f"s3://{BUCKET}/org/tiny"
    assert marker["files"]["model.safetensors"]["size"] == len(FILES["model.safetensors"])
    assert not (tmp_path / "cache" / "s3" / BUCKET / "org" / "tiny.partial").exists()


def test_second_fetch_is_a_cache_hit(serving_python, s3, config):
    assert fetch(serving_python, config, s3[0]).returncode == 0
    again = fetch(serving_python, config, s3[0])
    assert again.returncode == 0 and "cache hit" in again.stderr
    assert "fetching" not in again.stderr


def test_a_damaged_copy_is_fetched_again(serving_python, s3, config, tmp_path):
    assert fetch(serving_python, config, s3[0]).returncode == 0
    dest = tmp_path / "cache" / "s3" / BUCKET / "org" / "tiny"
    (dest / "model.safetensors").write_bytes(b"truncated")
    repaired = fetch(serving_python, config, s3[0])
    assert repaired.returncode == 0 and "damaged" in repaired.stderr
    assert (dest / "model.safetensors").read_bytes() == FILES["model.safetensors"]


def test_a_corrupt_marker_means_not_cached(serving_python, s3, config, tmp_path):
    assert fetch(serving_python, config, s3[0]).returncode == 0
    dest = tmp_path / "cache" / "s3" / BUCKET / "org" / "tiny"
    (dest / ".llm-stack-complete.json").write_text("{not json")
    again = fetch(serving_python, config, s3[0])
    assert again.returncode == 0 and "fetching" in again.stderr
    assert json.loads((dest / ".llm-stack-complete.json").read_text())["files"]


def test_an_interrupted_fetch_resumes_with_the_missing_files(serving_python, s3, config, tmp_path):
    partial = tmp_path / "cache" / "s3" / BUCKET / "org" / "tiny.partial"
    partial.mkdir(parents=True)
    (partial / "model.safetensors").write_bytes(FILES["model.safetensors"])  # fetched before a restart
    proc = fetch(serving_python, config, s3[0])
    assert proc.returncode == 0, proc.stderr
    assert "fetched config.json" in proc.stderr and "fetched tokenizer.json" in proc.stderr
    assert "fetched model.safetensors" not in proc.stderr


def test_concurrent_replicas_download_once(serving_python, s3, config):
    procs = [fetch(serving_python, config, s3[0], background=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert sum("fetch: fetching s3://" in out for out in outputs) == 1  # one download, the others wait
    assert sum("cache hit" in out for out in outputs) == 2


def test_a_missing_prefix_fails_clearly(serving_python, s3, tmp_path):
    path = tmp_path / "missing.json"
    path.write_text(json.dumps({"name": "x", "source": f"s3://{BUCKET}/nothing/here", "gpus": 0,
                                "cacheDir": str(tmp_path / "cache")}))
    proc = fetch(serving_python, path, s3[0])
    assert proc.returncode == 3
    assert "no objects under that prefix" in proc.stderr


def test_a_copy_damaged_in_place_with_its_size_kept_is_fetched_again(serving_python, s3, config, tmp_path):
    """Sizes alone would trust it: the copy is re-hashed against its marker (modelCache.verify, the default)."""
    assert fetch(serving_python, config, s3[0]).returncode == 0
    weights = tmp_path / "cache" / "s3" / BUCKET / "org" / "tiny" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[1000] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert "cache hit" in fetch(serving_python, config, s3[0], "--no-verify").stderr  # what sizes alone say
    repaired = fetch(serving_python, config, s3[0])
    assert repaired.returncode == 0 and "damaged" in repaired.stderr
    assert weights.read_bytes() == FILES["model.safetensors"]


def put_object(serving_python, endpoint: str, key: str, data: bytes) -> None:
    code = (f"import boto3; boto3.client('s3', endpoint_url='{endpoint}').put_object(Bucket='{BUCKET}', "
            f"Key={key!r}, Body={data!r})")
    subprocess.run([str(serving_python), "-c", code], check=True, env={**AWS, "PATH": "/usr/bin:/bin"}, timeout=60)


def test_an_object_key_that_climbs_out_of_the_cache_is_refused(serving_python, s3, tmp_path):
    put_object(serving_python, s3[0], "org/evil/config.json", b"{}")
    put_object(serving_python, s3[0], "org/evil/../../../../escaped.txt", b"gotcha")
    path = tmp_path / "evil.json"
    path.write_text(json.dumps({"name": "x", "source": f"s3://{BUCKET}/org/evil", "gpus": 0,
                                "cacheDir": str(tmp_path / "cache")}))
    proc = fetch(serving_python, path, s3[0])
    assert proc.returncode == 3 and "would be written outside" in proc.stderr, proc.stderr
    assert not list(tmp_path.rglob("escaped.txt"))


@pytest.mark.parametrize("source", [f"s3://{BUCKET}/org/../../etc", "file:///models/../etc/passwd"])
def test_a_source_that_climbs_is_refused_before_anything_happens(serving_python, s3, tmp_path, source):
    victim = tmp_path / "cache" / "s3" / "unrelated"
    victim.mkdir(parents=True)
    path = tmp_path / "climb.json"
    path.write_text(json.dumps({"name": "x", "source": source, "gpus": 0, "cacheDir": str(tmp_path / "cache")}))
    proc = fetch(serving_python, path, s3[0])
    assert proc.returncode == 2 and "'.' or '..' path segment" in proc.stderr
    assert victim.is_dir()
