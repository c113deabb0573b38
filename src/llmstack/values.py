"""Values as a release sees them: the files a user gives (each parsed with a clear error), coalesced by helm
itself with `--set`/`--set-string` over the chart's defaults, and the findings reported about them."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from llmstack import helm
from llmstack.paths import STACK_CHART

ERROR, WARNING = "error", "warning"


@dataclass
class Finding:
    level: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.level.upper()} {self.key}: {self.message}"


@dataclass
class Report:
    files: list[str]
    findings: list[Finding] = field(default_factory=list)
    server_check: str = ""  # what judged the rendered objects: a local or the user's API server, or why none

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    def error(self, key: str, message: str) -> None:
        self.findings.append(Finding(ERROR, key, message))

    def warning(self, key: str, message: str) -> None:
        self.findings.append(Finding(WARNING, key, message))

    def as_dict(self) -> dict:
        return {"valid": not self.errors, "files": self.files, "serverCheck": self.server_check,
                "errors": [asdict(f) for f in self.errors], "warnings": [asdict(f) for f in self.warnings]}


def key_path(parts) -> str:
    """["models", 0, "vllm"] -> models[0].vllm"""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_files(paths: Iterable[Path], report: Report) -> list[dict] | None:
    """Each file's own mapping, or None when one is unusable (missing, not YAML, not a mapping: the report
    says which, where and how to fix it)."""
    docs: list[dict] = []
    ok = True
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except FileNotFoundError:
            report.error(str(path), "file not found: check the path")
            ok = False
            continue
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(err, "problem", None) or str(err)
            report.error(str(path), f"not valid YAML{where}: {problem}: fix the syntax")
            ok = False
            continue
        if data is None:
            continue
        if not isinstance(data, dict):
            report.error(str(path), f"holds a {type(data).__name__}, not a mapping of values: start the file with "
                                    "keys such as models:")
            ok = False
            continue
        docs.append(data)
    return docs if ok else None


# A chart that renders its values: helm coalesces the chart's defaults, the files and --set/--set-string into
# them exactly as it does for the real chart (null deletes a key, maps merge, lists replace).
_DUMP_TEMPLATE = "{{ toYaml .Values }}\n"


def coalesced(paths: Iterable[Path] = (), set_values: Iterable[str] = (), set_string: Iterable[str] = (),
              chart: Path = STACK_CHART) -> dict:
    """The values a release gets, as helm computes them (helm.HelmError on a bad --set)."""
    with tempfile.TemporaryDirectory() as scratch:
        dump = Path(scratch) / "values-of"
        (dump / "templates").mkdir(parents=True)
        (dump / "Chart.yaml").write_text("apiVersion: v2\nname: values-of\nversion: 0.0.0\n")
        shutil.copy(chart / "values.yaml", dump / "values.yaml")
        (dump / "templates" / "values.yaml").write_text(_DUMP_TEMPLATE)
        text = helm.template(paths, chart=dump, set_values=set_values, set_string=set_string)
    body = text.split("\n", 2)[2] if text.startswith("---\n# Source:") else text
    return yaml.safe_load(body) or {}
