"""Each file of the broken-values catalogue (tests/bad_values, which `llmstack validate` is tested on too) makes
`helm template` fail with a message that names the key and the fix, never with a Go template stack trace (the
schema catches types and unknown keys; the chart's _validate.tpl catches the rules a schema cannot express)."""

from __future__ import annotations

import pytest
import yaml

from chartkit import BAD_VALUES, RENDERS, bad_values_expectations
from llmstack import helm

pytestmark = pytest.mark.chart


def model(**fields) -> dict:
    return {"name": "m", "source": "hf://org/model", **fields}


@pytest.mark.parametrize("path", BAD_VALUES, ids=lambda p: p.stem)
def test_bad_value_fails_with_its_message(path):
    _, _, expected = bad_values_expectations(path)
    if expected == RENDERS:  # a rule of `llmstack validate` alone (sizing): helm has no model data to apply it
        helm.template([path])
        return
    with pytest.raises(helm.HelmError) as failure:
        helm.template([path])
    message = str(failure.value)
    assert expected in message
    for trace in ("error calling", "nil pointer", "<.Values", "wrong type for value", "executing \""):
        assert trace not in message, f"template stack trace leaked: {message}"


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump({"models": [model(source="ftp://x", tensorParallelSize=2, gpus=1),
                                               model(name="second", source="ftp://y")]}))
    with pytest.raises(helm.HelmError) as failure:
        helm.template([path])
    assert "3 problem(s)" in str(failure.value)


def test_the_catalogue_covers_at_least_fifty_mistakes():
    assert len(BAD_VALUES) >= 50
