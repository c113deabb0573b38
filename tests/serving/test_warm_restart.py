"""Warm restarts: the chart keeps vLLM's compile cache (and the kernel caches) on the model cache volume
(`modelCache.compileCache`), so a restarted engine loads the compiled graph instead of compiling it again. Two
starts of real vLLM (CPU, with compilation on) with the environment the chart renders, on one cache folder."""

from __future__ import annotations

import re
import time

import pytest

from llmstack.local import chart
from procs import free_port, http_ok, start
from servingkit import VLLM_ENV, model_config

pytestmark = [pytest.mark.serving, pytest.mark.slow]

CACHE_ENV = {"VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "CUDA_CACHE_PATH",
             "VLLM_USE_AOT_COMPILE"}
VALUES = ("models[0].engine=vllm", "models[0].vllm.enforceEager=false", "models[0].vllm.maxModelLen=1024")
# vLLM's own account of its engine start: profiling, the KV cache and the warm-up, where the compile happens
ENGINE_INIT = re.compile(r"init engine \(profile, create kv cache, warmup model\) took ([\d.]+) s")


def rendered_cache_env(volume) -> dict[str, str]:
    """The compile-cache environment of the chart's vLLM container, its cache mount moved to `volume`."""
    objs = chart.render(set_values=VALUES)
    (deployment,) = [o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-instruct")]
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm"]
    env = {e["name"]: e["value"] for e in container["env"] if e["name"] in CACHE_ENV}
    assert env["VLLM_CACHE_ROOT"].startswith("/models/.compile/cpu-"), env
    return {k: v.replace("/models", str(volume), 1) for k, v in env.items()}


def test_a_restart_loads_the_compiled_graph_from_the_cache_volume_and_is_clearly_faster(
        serving_python, tiny_model, tmp_path, serving_logs):
    volume = tmp_path / "models"
    env = {**VLLM_ENV, **rendered_cache_env(volume), "VLLM_LOGGING_LEVEL": "INFO"}
    config = model_config(tmp_path, tiny_model, values=["models[0].vllm.enforceEager=false"])
    seconds, engine_init = [], []
    for attempt in ("cold", "warm"):
        port = free_port()
        t0 = time.monotonic()
        proc = start(f"vllm-{attempt}-{port}", [str(serving_python), "-m", "llm_serving", "serve", "--config",
                                               str(config), "--host", "127.0.0.1", "--port", str(port)],
                     serving_logs, http_ok(port, "/v1/models"), timeout=600, env=env)
        seconds.append(time.monotonic() - t0)
        log = proc.output()
        proc.stop(timeout=60)
        engine_init.append(float(ENGINE_INIT.findall(log)[-1]))
        if attempt == "warm":
            assert "Compiling model again" not in log, log[-3000:]
    compiled = list((volume / ".compile").rglob("*"))
    print(f"ready after: cold {seconds[0]:.1f} s, warm {seconds[1]:.1f} s ({seconds[1] / seconds[0]:.2f}×); "
          f"engine init (profile, KV cache, warm-up with the compile): cold {engine_init[0]:.1f} s, warm "
          f"{engine_init[1]:.1f} s ({engine_init[1] / engine_init[0]:.2f}×); {len(compiled)} files under .compile")
    assert any(p.is_file() for p in compiled), "nothing was written to the compile cache"
    assert engine_init[1] < 0.5 * engine_init[0] and seconds[1] < seconds[0], (seconds, engine_init)
