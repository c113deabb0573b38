"""A local llm-gateway: its keys file (hashed, as its Secret holds them), its config file, and the process. The
demo, the tests and the gateway benchmark start it through here."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from llmstack.local import Proc, free_port, http_ok, start


def write_keys(path: Path, keys: dict[str, dict]) -> Path:
    """`keys`: plain key -> its entry (id, models, limits). Written atomically, as a Secret update lands."""
    from llm_gateway.keys import hash_key

    entries = [{"sha256": hash_key(key), **entry} for key, entry in keys.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"keys": entries}))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def write_config(path: Path, routes: list[dict], keys_file: Path, **settings) -> Path:
    """gateway.yaml: the routes, the keys file, and any further settings (health, limits, redis...)."""
    path.write_text(yaml.safe_dump({"routes": routes, "keysFile": str(keys_file), **settings}))
    return path


def start_gateway(name: str, config: Path, logs: Path, port: int | None = None, *extra: str,
                  env: dict | None = None) -> tuple[int, Proc]:
    """`llm_gateway serve` on 127.0.0.1 (a free port unless given), ready once /healthz answers."""
    port = port or free_port()
    argv = [sys.executable, "-m", "llm_gateway", "serve", "--config", str(config), "--host", "127.0.0.1",
            "--port", str(port), *extra]
    return port, start(name, argv, logs, http_ok(port, "/healthz"), env=env)
