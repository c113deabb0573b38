"""Watching the config and keys files (ConfigMap and Secret updates reach the pod without a restart): once a
second, whatever happens in a read, so revocations always take effect. An invalid config keeps the running
one; an invalid or missing keys file is the KeyStore's to judge (last good keys for a bounded time)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from llm_gateway import config as config_mod
from llm_gateway.keys import KeyStore

log = logging.getLogger("llm_gateway.reload")


def stamp(path: Path | None) -> tuple | None:
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_size)


class Reloader:
    def __init__(self, config_path: Path | None, keys: KeyStore, on_config: Callable[[config_mod.Config], None],
                 on_tick: Callable[[], None], interval: float = 1.0):
        self.config_path, self.keys = config_path, keys
        self.on_config, self.on_tick, self.interval = on_config, on_tick, interval
        self._config_stamp = stamp(config_path)

    def check(self) -> None:
        """One look at both files."""
        self.keys.refresh()
        current = stamp(self.config_path)
        if current and current != self._config_stamp:
            self._config_stamp = current
            try:
                new = config_mod.load(self.config_path)
            except config_mod.ConfigError as err:
                log.error("config %s is invalid, keeping the running one: %s", self.config_path, err)
            else:
                self.on_config(new)
                log.info("config reloaded: %d route(s)", len(new.routes))
        self.on_tick()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.check()
            except Exception:  # noqa: BLE001 -- a reload must never stop: log it and look again next time
                log.exception("reloading the config and keys failed; trying again in %.0f s", self.interval)
