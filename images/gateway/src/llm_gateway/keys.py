"""API keys from a mounted Secret file: only SHA-256 hashes are stored, and the file is re-read when it
changes (Kubernetes swaps Secret mounts atomically), so revoking a key needs no restart."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
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


def parse_keys(data: dict) -> dict[str, ApiKey]:
    entries = (data or {}).get("keys")
    if not isinstance(entries, list):
        raise KeyFileError("keys: must be a list of {id, sha256, models, requestsPerMinute, tokensPerMinute}")
    keys: dict[str, ApiKey] = {}
    for i, entry in enumerate(entries):
        path = f"keys[{i}]"
        if not isinstance(entry, dict):
            raise KeyFileError(f"{path}: must be a mapping")
        unknown = set(entry) - {"id", "sha256", "models", "requestsPerMinute", "tokensPerMinute", "backend"}
        if unknown:
            raise KeyFileError(f"{path}: unknown key(s) {sorted(unknown)}")
        digest = str(entry.get("sha256", "")).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise KeyFileError(f"{path}.sha256: must be the hex SHA-256 of the key (`llm-gateway hash-key`)")
        models = entry.get("models", ["*"])
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise KeyFileError(f"{path}.models: must be a list of model ids, or [\"*\"]")
        key = ApiKey(str(entry.get("id") or digest[:8]), digest, frozenset(models),
                     int(entry.get("requestsPerMinute", 0)), int(entry.get("tokensPerMinute", 0)),
                     str(entry.get("backend", "")))
        keys[digest] = key
    return keys


class KeyStore:
    """Looks keys up by hash; `refresh()` re-reads the file when its mtime/inode changed."""

    def __init__(self, path: Path | None):
        self.path = path
        self._stamp: tuple | None = None
        self._keys: dict[str, ApiKey] = {}
        if path:
            self.refresh(strict=True)

    def refresh(self, strict: bool = False) -> None:
        if not self.path:
            return
        try:
            st = os.stat(self.path)
        except OSError as err:
            if strict:
                raise KeyFileError(f"{self.path}: cannot read the keys file: {err.strerror}") from err
            return
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        if stamp == self._stamp:
            return
        try:
            keys = parse_keys(yaml.safe_load(Path(self.path).read_text()))
        except (yaml.YAMLError, KeyFileError, OSError, ValueError) as err:
            if strict:
                raise KeyFileError(f"{self.path}: {err}") from err
            log.error("keys file %s is invalid, keeping the previous keys: %s", self.path, err)
            self._stamp = stamp
            return
        self._keys, self._stamp = keys, stamp
        log.info("loaded %d API key(s) from %s", len(keys), self.path)

    def lookup(self, presented: str) -> ApiKey | None:
        digest = hash_key(presented)
        key = self._keys.get(digest)
        # the dict lookup is on a hash, which leaks nothing; compare in constant time all the same
        if key is not None and hmac.compare_digest(key.sha256, digest):
            return key
        return None

    def __len__(self) -> int:
        return len(self._keys)
