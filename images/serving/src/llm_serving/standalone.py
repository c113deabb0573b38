"""engine: vllm -- fetch, then exec vLLM's OpenAI server with arguments from the same config.

exec (not a child process) so the container's SIGTERM reaches vLLM's HTTP server directly: it stops
accepting, lets in-flight requests finish, then exits (the chart's preStop sleep and
terminationGracePeriodSeconds frame that drain). Before that, the preStop hook's drain file makes every answer
close its connection (llm_serving.drain), so that kept-alive clients move to the pods that stay."""

from __future__ import annotations

import os
import sys

from llm_serving import drain
from llm_serving.config import ModelConfig
from llm_serving.fetch import fetch, fetch_source


def server_command(config: ModelConfig, host: str, port: int, extra: list[str] | None = None) -> list[str]:
    # the init container fetched and verified the copy moments ago: sizes are enough here
    model_path = fetch(config, verify=False)
    adapters = {a.name: fetch_source(a.source, config.cache_dir, verify=False) for a in config.adapters}
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            *config.server_argv(model_path, host, port, adapters), "--middleware", drain.ASGI_PATH, *(extra or [])]


def serve(config: ModelConfig, host: str, port: int, extra: list[str] | None = None) -> None:
    argv = server_command(config, host, port, extra)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights are local by now: never reach a hub at load time
    os.execv(argv[0], argv)


