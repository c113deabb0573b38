"""The project's images live in one OCI image layout (`.tools/images/oci`, what `make images` writes): images that
share layers share blobs, so the serving image and its multi-GB base take the space of one. Two jobs on it:
`prune` (drop the images no longer built and the blobs nothing references) and `stream` (a tar of some of its
images, which `ctr images import -` reads, so no archive is written to disk).

    python -m llmstack.oci_layout prune LAYOUT REF...     keep only REF..., delete unreferenced blobs
    python -m llmstack.oci_layout size LAYOUT REF         bytes of REF's blobs
"""
from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path
from typing import BinaryIO

REF_NAME = "org.opencontainers.image.ref.name"


def _blob(layout: Path, digest: str) -> Path:
    algorithm, hexdigest = digest.split(":", 1)
    return layout / "blobs" / algorithm / hexdigest


def index(layout: Path) -> dict:
    return json.loads((layout / "index.json").read_text())


def _name(entry: dict) -> str:
    """The image name of an index entry ("" when it has none)."""
    return entry.get("annotations", {}).get(REF_NAME, "")


def refs(layout: Path) -> set[str]:
    """The image names the layout holds."""
    if not (layout / "index.json").is_file():
        return set()
    return {_name(m) for m in index(layout)["manifests"]} - {""}


def _entries(layout: Path, names: set[str]) -> list[dict]:
    found = [m for m in index(layout)["manifests"] if _name(m) in names]
    lacking = names - {_name(m) for m in found}
    if lacking:
        raise KeyError(f"not in {layout}: {', '.join(sorted(lacking))} (run `make images`)")
    return found


def blobs_of(layout: Path, descriptor: dict) -> list[str]:
    """The digests a descriptor reaches: itself, and for a manifest its config and layers (an index: its manifests)."""
    digests = [descriptor["digest"]]
    media = descriptor.get("mediaType", "")
    if "manifest" in media or "index" in media:  # OCI and Docker manifests, indexes and lists
        doc = json.loads(_blob(layout, descriptor["digest"]).read_bytes())
        children = doc.get("manifests", []) + ([doc["config"]] if "config" in doc else []) + doc.get("layers", [])
        for child in children:
            digests += blobs_of(layout, child)
    return digests


def size(layout: Path, ref: str) -> int:
    return sum(_blob(layout, d).stat().st_size for d in set(blobs_of(layout, _entries(layout, {ref})[0])))


def prune(layout: Path, keep: set[str]) -> int:
    """Keep the images named in `keep`; delete the other index entries and every blob none of the kept reaches.
    Returns the bytes freed."""
    doc = index(layout)
    doc["manifests"] = [m for m in doc["manifests"] if _name(m) in keep]
    (layout / "index.json").write_text(json.dumps(doc))
    live = {d for m in doc["manifests"] for d in blobs_of(layout, m)}
    freed = 0
    for path in (layout / "blobs").glob("*/*"):
        if f"{path.parent.name}:{path.name}" not in live:
            freed += path.stat().st_size
            path.unlink()
    return freed


def stream(layout: Path, names: set[str], out: BinaryIO) -> None:
    """Write to `out` a tar of an OCI layout holding only the images `names` (index, oci-layout, their blobs)."""
    entries = _entries(layout, names)
    with tarfile.open(fileobj=out, mode="w|") as tar:
        def add_bytes(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add_bytes("oci-layout", (layout / "oci-layout").read_bytes())
        add_bytes("index.json", json.dumps({"schemaVersion": 2, "manifests": entries}).encode())
        for digest in dict.fromkeys(d for m in entries for d in blobs_of(layout, m)):
            path = _blob(layout, digest)
            tar.add(str(path), arcname=f"blobs/{path.parent.name}/{path.name}")


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "prune":
        freed = prune(Path(argv[1]), set(argv[2:]))
        print(f"oci layout: pruned, {freed / 1e6:.0f} MB freed")
        return 0
    if len(argv) == 3 and argv[0] == "size":
        print(size(Path(argv[1]), argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
