#!/usr/bin/env python3
"""An image's requirements: the lines of a lock that its roots need, and nothing else.

Roots: the dependencies of the project package the image carries (--package), plus the entries of a .in file
(--roots) except those marked `# test-only`. Everything reachable from them through the installed
distributions' metadata (extras and environment markers evaluated) is kept; what only test tools need stays
out of the image. Run it with the Python of the environment the lock was installed into (its metadata is the
lock's): the serving venv for the serving image, the tooling venv for the gateway's.
  .tools/serving-venv/bin/python scripts/image_requirements.py --lock requirements/serving.lock \\
      --roots requirements/serving.in --package llm-serving
  .venv/bin/python scripts/image_requirements.py --lock requirements/dev.lock --package llm-gateway
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def roots(package: str, roots_file: Path | None) -> list[Requirement]:
    wanted = [Requirement(r) for r in metadata.distribution(package).requires or []]
    if roots_file:
        lines = roots_file.read_text().splitlines()
        wanted += [Requirement(ln.split("#")[0].strip()) for ln in lines
                   if ln.strip() and not ln.startswith("#") and "test-only" not in ln]
    return wanted


def needed(start: list[Requirement]) -> set[str]:
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in start]
    while todo:
        req, extras = todo.pop()
        key = f"{canonical(req.name)}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency the lock does not hold
        for text in dist.requires or []:
            dep = Requirement(text)
            env = [{"extra": e} for e in extras] or [{"extra": ""}]
            if dep.marker is None or any(dep.marker.evaluate(e) for e in env):
                todo.append((dep, frozenset(dep.extras)))
    return {k.split("[")[0] for k in seen}


def select(lock: Path, package: str, roots_file: Path | None = None) -> list[str]:
    keep = needed(roots(package, roots_file))
    return [ln for ln in lock.read_text().splitlines()
            if ln and not ln.startswith("#") and canonical(ln.split("==")[0]) in keep]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lock", type=Path, required=True)
    parser.add_argument("--package", required=True, help="the project package the image carries")
    parser.add_argument("--roots", type=Path, help="a requirements .in file whose entries are roots too")
    args = parser.parse_args()
    print("\n".join(select(args.lock, args.package, args.roots)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
