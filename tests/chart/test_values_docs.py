"""values.yaml documents every key with `## @param`, and values.schema.json types every key."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from llmstack.paths import GATEWAY_CHART, STACK_CHART

pytestmark = pytest.mark.chart

PARAM = re.compile(r"^\s*## @param ([\w.\-\[\]]+) \S")


def key_paths(node, prefix="") -> set[str]:
    paths = set()
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            paths |= key_paths(value, path)
    return paths


@pytest.mark.parametrize("chart", [STACK_CHART, GATEWAY_CHART], ids=["llm-stack", "llm-gateway"])
def test_every_value_is_documented_by_a_param_line(chart):
    text = (chart / "values.yaml").read_text()
    documented = {m.group(1) for line in text.splitlines() if (m := PARAM.match(line))}
    paths = key_paths(yaml.safe_load(text))
    assert documented <= paths, f"@param lines for keys that do not exist: {documented - paths}"
    undocumented = {p for p in paths
                    if not any(p == d or p.startswith(d + ".") for d in documented)
                    and not any(d.startswith(p + ".") for d in documented)}
    assert not undocumented, f"keys without a @param line: {sorted(undocumented)}"


@pytest.mark.parametrize("chart", [STACK_CHART, GATEWAY_CHART], ids=["llm-stack", "llm-gateway"])
def test_schema_rejects_unknown_keys_and_covers_every_top_level_key(chart):
    schema = json.loads((chart / "values.schema.json").read_text())
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert schema["additionalProperties"] is False
    assert set(values) <= set(schema["properties"])


def test_model_entries_reject_unknown_keys():
    schema = json.loads((STACK_CHART / "values.schema.json").read_text())
    model = schema["$defs"]["model"]
    assert model["additionalProperties"] is False
    assert set(model["required"]) == {"name", "source"}
    defaults = yaml.safe_load((STACK_CHART / "values.yaml").read_text())["modelDefaults"]
    assert set(defaults) <= set(model["properties"])
