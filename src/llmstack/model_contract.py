"""The model contract (charts/llm-stack/files/model.yaml): the one definition of a `models[]` entry, and the
three files `make generate` writes from it -- the schema's $defs.model and $defs.modelDefaults, the
`modelDefaults` block of values.yaml, and the serving package's key sets, defaults and source grammar
(llm_serving/contract.py). The chart reads the same file at render time."""

from __future__ import annotations

import functools
import json
import pprint
import re
from pathlib import Path

import yaml

from llmstack.paths import ROOT, STACK_CHART

DEFINITION = STACK_CHART / "files" / "model.yaml"
SCHEMA = STACK_CHART / "values.schema.json"
VALUES = STACK_CHART / "values.yaml"
SERVING_CONTRACT = ROOT / "images" / "serving" / "src" / "llm_serving" / "contract.py"

# values.yaml's generated block: from the `modelDefaults:` line to the next section
VALUES_BLOCK = re.compile(r"(?ms)^modelDefaults:\n.*?(?=^\n## @section )")


@functools.cache
def definition() -> dict:
    return yaml.safe_load(DEFINITION.read_text())


def source_pattern(contract: dict | None = None) -> str:
    """The whole source grammar as one anchored regex (Go RE2 and Python read it alike); the chart's
    llm-stack.sourcePattern composes the same string."""
    sources = (contract or definition())["sources"]
    alternatives = [f"{s['scheme']}://{s['location']}" + (f"(@{sources['revision']})?" if s.get("revision") else "")
                    for s in sources["schemes"]]
    return "^(" + "|".join(alternatives) + ")$"


def _schema(entry: dict) -> dict:
    if "keys" in entry:
        return {"type": "object", "additionalProperties": False,
                "properties": {k: _schema(sub) for k, sub in entry["keys"].items()}}
    schema = dict(entry["schema"])
    if "doc" in entry and "$ref" not in schema:
        schema["description"] = entry["doc"]
    return schema


def schema_defs(contract: dict | None = None) -> tuple[dict, dict]:
    """($defs.model, $defs.modelDefaults): a model entry, and the same less its required keys."""
    keys = (contract or definition())["keys"]
    required = [k for k, entry in keys.items() if entry.get("required")]
    model = {"type": "object", "additionalProperties": False,
             "properties": {k: _schema(entry) for k, entry in keys.items()}, "required": required}
    defaults = {"type": "object", "additionalProperties": False,
                "properties": {k: _schema(entry) for k, entry in keys.items() if k not in required}}
    return model, defaults


def defaults(keys: dict | None = None) -> dict:
    """modelDefaults as values: every key that has a default, groups nested."""
    keys = definition()["keys"] if keys is None else keys
    out = {}
    for name, entry in keys.items():
        if "keys" in entry:
            out[name] = defaults(entry["keys"])
        elif "default" in entry:
            out[name] = entry["default"]
    return out


def _scalar(value) -> str:
    if isinstance(value, str):
        plain = value != "" and yaml.safe_load(value) == value and not value.startswith(("{", "[", "*", "&", "!"))
        return value if plain else json.dumps(value, ensure_ascii=False)
    return json.dumps(value)   # null, true/false, numbers: YAML reads JSON's spelling


def _yaml(value, indent: str) -> list[str]:
    """A default as block YAML under a key (empty collections inline)."""
    lines = []
    for k, v in value.items():
        if isinstance(v, dict) and v:
            lines += [f"{indent}{k}:", *_yaml(v, indent + "  ")]
        elif isinstance(v, list) and v:
            lines += [f"{indent}{k}:"] + [f"{indent}  - {_scalar(item)}" for item in v]
        else:
            lines.append(f"{indent}{k}: {_value(v)}")
    return lines


def _value(v) -> str:
    if isinstance(v, dict | list) and not v:
        return "{}" if isinstance(v, dict) else "[]"
    return _scalar(v)


def values_block(contract: dict | None = None) -> str:
    """values.yaml's `modelDefaults:` block: each key with its `## @param` line."""
    def emit(keys: dict, path: str, indent: str) -> list[str]:
        lines = []
        for name, entry in keys.items():
            if entry.get("required"):
                continue
            if "keys" in entry:
                lines += [f"{indent}{name}:", *emit(entry["keys"], f"{path}.{name}", indent + "  ")]
                continue
            lines.append(f"{indent}## @param {path}.{name} {entry['doc']}")
            default = entry["default"]
            if isinstance(default, dict) and default:
                lines += [f"{indent}{name}:", *_yaml(default, indent + "  ")]
            else:
                lines.append(f"{indent}{name}: {_value(default)}")
        return lines
    return "\n".join(["modelDefaults:", *emit((contract or definition())["keys"], "modelDefaults", "  ")]) + "\n"


def values_yaml(text: str) -> str:
    """values.yaml with its modelDefaults block replaced by the generated one."""
    if not VALUES_BLOCK.search(text):
        raise ValueError(f"{VALUES}: no `modelDefaults:` block followed by a `## @section` line")
    return VALUES_BLOCK.sub(lambda _: values_block(), text, count=1)


def schema_json(text: str) -> str:
    """values.schema.json with $defs.model and $defs.modelDefaults replaced by the generated ones."""
    schema = json.loads(text)
    schema["$defs"]["model"], schema["$defs"]["modelDefaults"] = schema_defs()
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def serving_module(contract: dict | None = None) -> str:
    """llm_serving/contract.py: what model.json may hold, its defaults and bounds, and the source grammar."""
    c = contract or definition()
    keys = c["keys"]
    config = {k: e for k, e in keys.items() if e.get("config")}
    top = sorted([*config, *c["chartKeys"]])
    groups = {k: e["keys"] for k, e in config.items() if "keys" in e}
    leaf_defaults = {k: e["default"] for k, e in config.items() if "default" in e}
    leaf_defaults.update({k: e["default"] for k, e in c["chartKeys"].items()})
    minimums = {k: e["schema"]["minimum"] for k, e in config.items() if "minimum" in e.get("schema", {})}
    schemes = [s["scheme"] for s in c["sources"]["schemes"]]
    examples = [s["example"] for s in c["sources"]["schemes"]]

    def literal(value) -> str:
        return pprint.pformat(value, width=110, sort_dicts=False)

    lines = [
        '"""The model contract, generated by `make generate` from charts/llm-stack/files/model.yaml: do not edit by',
        'hand. The keys model.json may hold, their defaults and lower bounds, and the source grammar."""',
        "",
        f"TOP_KEYS = frozenset({literal(top)})",
        *[f"{name.upper()}_KEYS = frozenset({literal(sorted(sub))})" for name, sub in groups.items()],
        f"DEFAULTS = {literal(leaf_defaults)}",
        *[f"{name.upper()}_DEFAULTS = {literal(defaults(sub))}" for name, sub in groups.items()],
        f"MINIMUMS = {literal(minimums)}",
        f"REQUIRED = {literal(tuple(k for k, e in config.items() if e.get('required')))}",
        f"SOURCE_SCHEMES = {literal(tuple(schemes))}",
        f"SOURCE_EXAMPLES = {literal(', '.join(examples[:-1]) + ' or ' + examples[-1])}",
        f"SOURCE_PATTERN = {literal(source_pattern(c))}",
        f"REVISION_PATTERN = {literal(c['sources']['revision'])}",
        "",
    ]
    return "\n".join(lines)


def rendered() -> dict[Path, str]:
    """The files generated from the contract, as `llmstack.generate` writes them."""
    return {SCHEMA: schema_json(SCHEMA.read_text()), VALUES: values_yaml(VALUES.read_text()),
            SERVING_CONTRACT: serving_module()}
