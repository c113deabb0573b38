"""API keys from a mounted Secret file: only SHA-256 hashes are stored, and the file is re-read when it
changes (Kubernetes swaps Secret mounts atomically), so revoking a key needs no restart."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

log = logging.getLogger("llm_gateway.keys")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: str                      # safe to log and to use as a metric label
    sha256: str
    models: frozenset[str]       # "*" = every routed model
    requests_per_minute: int = 0  # 0 = unlimited
    tokens_per_minute: int = 0
    backend: str = ""            # pin every request of this key to one backend name

    def allows(self, model: str) -> bool:
        return "*" in self.models or model in self.models


class KeyFileError(ValueError):
    pass


def _count(entry: dict, key: str, path: str) -> int:
    """A limit; an empty one is an error, never quietly "unlimited"."""
    value = entry.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != int(value):
        raise KeyFileError(f"{path}.{key}: {value!r} must be a whole number ≥ 0 (0 = unlimited)")
    return int(value)


def parse_keys(data) -> dict[str, ApiKey]:
    """The keys of a keys file's parsed YAML; KeyFileError naming the entry for anything else (a scalar, a bare
    list, an empty or non-numeric limit...)."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise KeyFileError("must be a mapping with `keys:`, a list of {id, sha256, models, requestsPerMinute, "
                           f"tokensPerMinute, backend}} (got {type(data).__name__})")
    keys: dict[str, ApiKey] = {}
    for i, entry in enumerate(data["keys"]):
        path = f"keys[{i}]"
        if not isinstance(entry, dict):
            raise KeyFileError(f"{path}: must be a mapping")
        unknown = set(entry) - {"id", "sha256", "models", "requestsPerMinute", "tokensPerMinute", "backend"}
        if unknown:
            raise KeyFileError(f"{path}: unknown key(s) {sorted(map(str, unknown))}")
        digest = str(entry.get("sha256", "")).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise KeyFileError(f"{path}.sha256: must be the hex SHA-256 of the key (`llm-gateway hash-key`)")
        models = entry.get("models", ["*"])
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise KeyFileError(f"{path}.models: must be a list of model ids, or [\"*\"]")
        keys[digest] = ApiKey(str(entry.get("id") or digest[:8]), digest, frozenset(models),
                              _count(entry, "requestsPerMinute", path), _count(entry, "tokensPerMinute", path),
                              str(entry.get("backend") or ""))
    return keys


class KeyStore:
    """Looks keys up by hash. `refresh()` re-reads the file when it changed. A file that turns invalid or
    disappears is reported (`problem`) and its last good keys are kept for `max_stale_seconds` at most: then
    every key is refused (fail closed), until a valid file comes back. A valid file always takes effect at
    once, so a revocation is never ignored."""

    def __init__(self, path: Path | None, max_stale_seconds: float = 300.0, clock=time.monotonic):
        self.path = path
        self.max_stale_seconds = max_stale_seconds
        self.clock = clock
        self._stamp: tuple | None = None
        self._keys: dict[str, ApiKey] = {}
        self.problem: str | None = None      # why the file is not in effect now
        self.problem_since: float | None = None
        self.failures = 0                    # reads that found the file invalid or missing
        if path:
            self.refresh(strict=True)

    def refresh(self, strict: bool = False) -> None:
        if not self.path:
            return
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
            if stamp == self._stamp and self.problem is None:
                return
            keys = parse_keys(yaml.safe_load(Path(self.path).read_text()))
        except (OSError, yaml.YAMLError, KeyFileError, ValueError, TypeError, RecursionError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            if strict:
                raise KeyFileError(f"{self.path}: {reason}") from err
            self._fail(f"{self.path}: {reason}")
            return
        self._keys, self._stamp = keys, stamp
        if self.problem is not None:
            log.info("keys file %s is valid again", self.path)
        self.problem = self.problem_since = None
        log.info("loaded %d API key(s) from %s", len(keys), self.path)

    def _fail(self, problem: str) -> None:
        if problem != self.problem:  # once per distinct problem, not every second
            self.failures += 1
            left = self.max_stale_seconds - (self.clock() - self.problem_since) if self.problem_since else \
                self.max_stale_seconds
            log.error("keys file invalid: %s; keeping the last good keys for %.0f s more, then refusing every key",
                      problem, max(0.0, left))
        self.problem = problem
        if self.problem_since is None:
            self.problem_since = self.clock()

    @property
    def failed_closed(self) -> bool:
        return self.problem_since is not None and self.clock() - self.problem_since > self.max_stale_seconds

    def lookup(self, presented: str) -> ApiKey | None:
        if self.failed_closed:
            return None
        digest = hash_key(presented)
        key = self._keys.get(digest)
        # the dict lookup is on a hash, which leaks nothing; compare in constant time all the same
        if key is not None and hmac.compare_digest(key.sha256, digest):
            return key
        return None

    def __len__(self) -> int:
        return 0 if self.failed_closed else len(self._keys)
