"""`make generate`: write the files generated from the chart's definitions -- the Grafana dashboards
(charts/llm-stack/dashboards/), the add-on chart values (values/addons/) and each chart's README.md with
its values table. `--check` writes nothing and
exits 1 when a committed file differs from what the generators produce now."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmstack import addons, chartdocs, dashboards
from llmstack.paths import STACK_CHART

DASHBOARDS_DIR = STACK_CHART / "dashboards"


def generated() -> dict[Path, str]:
    files = {DASHBOARDS_DIR / name: text for name, text in dashboards.rendered().items()}
    files.update({addons.ADDONS_DIR / name: text for name, text in addons.rendered().items()})
    files.update(chartdocs.rendered())
    return files


def stale(files: dict[Path, str]) -> list[Path]:
    """Generated files whose committed copy is missing or different, plus committed leftovers."""
    out = [p for p, text in files.items() if not p.is_file() or p.read_text() != text]
    out += [p for p in DASHBOARDS_DIR.glob("*.json") if p not in files]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmstack.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    args = parser.parse_args(argv)
    files = generated()
    if args.check:
        out_of_date = stale(files)
        for path in out_of_date:
            print(f"out of date: {path.relative_to(STACK_CHART.parents[1])} (run `make generate`)", file=sys.stderr)
        return 1 if out_of_date else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(STACK_CHART.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
