"""Model fetch into the cache: atomic, resumable, integrity-marked, one downloader per model.

Layout under the cache directory (`cacheDir`, a PVC shared by replicas or an emptyDir):
  <scheme>/<location>[@revision]/            the complete copy, with .llm-stack-complete.json
  <scheme>/<location>[@revision].partial/    a download in progress (kept: a restart resumes it)
  <scheme>/<location>[@revision].lock        flock: a second replica waits instead of downloading twice
file:// and pvc:// sources are used in place (pvc://claim/path is mounted at /mnt/sources/claim).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from llm_serving.config import ModelConfig, Source

log = logging.getLogger("llm_serving.fetch")
MARKER = ".llm-stack-complete.json"
SOURCES_ROOT = Path(os.environ.get("LLM_STACK_SOURCES_ROOT", "/mnt/sources"))


class FetchError(RuntimeError):
    pass


def local_path(source: Source) -> Path | None:
    """Where a source already is on disk (file://, pvc://), else None."""
    if source.scheme == "file":
        return Path(source.location)
    if source.scheme == "pvc":
        claim, _, sub = source.location.partition("/")
        return SOURCES_ROOT / claim / sub
    return None


def inside(folder: Path, rel: str, what: str) -> Path:
    """folder/rel, refused (FetchError) when rel would leave folder: a '..' in a bucket's object key must not
    write above the cache."""
    target = (folder / rel).resolve()
    if not target.is_relative_to(folder.resolve()) or target == folder.resolve():
        raise FetchError(f"{what} would be written outside {folder}: refusing it")
    return folder / rel


def cache_path(cache_dir: Path, source: Source) -> Path:
    name = source.location.strip("/") + (f"@{source.revision}" if source.revision else "")
    return Path(cache_dir) / source.scheme / name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_marker(folder: Path, source: Source) -> dict:
    files = {str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": sha256_file(p)}
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MARKER
             and ".cache" not in p.relative_to(folder).parts}
    marker = {"source": str(source), "files": files, "completed_at": time.time()}
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=1))
    tmp.replace(folder / MARKER)
    return marker


def is_complete(folder: Path, source: Source, verify: bool = False) -> bool:
    """The marker is present, names this source, and every listed file is there with its size (and hash)."""
    try:
        marker = json.loads((folder / MARKER).read_text())
        if marker["source"] != str(source) or not marker["files"]:
            return False
        for rel, meta in marker["files"].items():
            path = folder / rel
            if path.stat().st_size != meta["size"] or (verify and sha256_file(path) != meta["sha256"]):
                log.warning("cache copy %s is damaged (%s); fetching again", folder, rel)
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


@contextmanager
def exclusive(lock_path: Path, label: str):
    """Hold an flock; a second process (another replica on the shared cache) waits here."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another replica is fetching %s; waiting for it", label)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _hf_token() -> str | None:
    path = os.environ.get("HF_TOKEN_PATH")
    if path and Path(path).is_file():
        return Path(path).read_text().strip() or None
    return os.environ.get("HF_TOKEN") or None


def download_hf(source: Source, dest: Path) -> None:
    from huggingface_hub import snapshot_download  # resumes partial files in dest/.cache by itself

    snapshot_download(repo_id=source.location, revision=source.revision or None, local_dir=str(dest),
                      token=_hf_token())


def download_object_store(source: Source, dest: Path) -> None:
    """s3:// and gs:// through fsspec (s3fs, gcsfs); files already complete in dest are kept (resume)."""
    import fsspec

    protocol = "s3" if source.scheme == "s3" else "gcs"
    options = {}
    if protocol == "s3" and os.environ.get("AWS_ENDPOINT_URL"):
        options["client_kwargs"] = {"endpoint_url": os.environ["AWS_ENDPOINT_URL"]}
    fs = fsspec.filesystem(protocol, **options)
    prefix = source.location.rstrip("/")
    objects = fs.find(prefix, detail=True)
    if not objects:
        raise FetchError(f"{source}: no objects under that prefix")
    total = sum(int(meta.get("size") or 0) for meta in objects.values())
    done = 0
    for key, meta in sorted(objects.items()):
        rel = key[len(prefix):].lstrip("/") or Path(key).name
        target = inside(dest, rel, f"{source}: object {key!r}")
        size = int(meta.get("size") or 0)
        if target.exists() and target.stat().st_size == size:
            done += size
            continue  # already fetched before a restart
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        fs.get_file(key, str(tmp))
        tmp.replace(target)
        done += size
        log.info("fetched %s (%d/%d MiB)", rel, done >> 20, total >> 20)


DOWNLOADERS: dict[str, Callable[[Source, Path], None]] = {"hf": download_hf, "s3": download_object_store,
                                                          "gs": download_object_store}


def fetch_source(source: Source, cache_dir: Path, verify: bool = True) -> Path:
    """The local directory of a source, downloading it into the cache first when needed."""
    in_place = local_path(source)
    if in_place is not None:
        if not in_place.exists():
            raise FetchError(f"{source}: {in_place} does not exist (is the volume mounted?)")
        return in_place
    dest = inside(Path(cache_dir), str(cache_path(cache_dir, source).relative_to(cache_dir)), str(source))
    with exclusive(dest.with_name(dest.name + ".lock"), str(source)):
        if is_complete(dest, source, verify):
            log.info("cache hit: %s is complete in %s", source, dest)
            return dest
        partial = dest.with_name(dest.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        log.info("fetching %s into %s", source, partial)
        DOWNLOADERS[source.scheme](source, partial)
        marker = write_marker(partial, source)
        if dest.exists():
            shutil.rmtree(dest)  # an incomplete or damaged earlier copy
        partial.replace(dest)  # atomic: readers see no copy or a complete one
        size = sum(f["size"] for f in marker["files"].values())
        log.info("fetched %s: %d files, %.1f MiB in %.1fs", source, len(marker["files"]), size / 2**20,
                 time.monotonic() - started)
        return dest


def fetch(config: ModelConfig, verify: bool | None = None) -> Path:
    """Fetch the model and its LoRA adapters; returns the model's local directory. `verify` (default: the
    config's verifyCache) re-hashes a cached copy: a file damaged in place, of the right size, is caught."""
    verify = config.verify_cache if verify is None else verify
    path = fetch_source(config.source, config.cache_dir, verify)
    for adapter in config.adapters:
        fetch_source(adapter.source, config.cache_dir, verify)
    return path
