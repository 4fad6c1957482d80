"""Every chapter parameter is checked by type and range before a chapter uses it.

TrainingConfig's fields (and ``recipe_name``) are checked by
``config_from_parameters``; everything else a chapter declares is checked by
``rnn_mnist.check_parameters``, called in the cell right after the ``parameters``
cell. papermill's ``-p compare_with_seed false`` arrives as the string "false".
"""

import ast
import dataclasses
import json
from pathlib import Path

import pytest

import rnn_mnist
from rnn_mnist.config import CHAPTER_PARAMETERS, ConfigError, TrainingConfig, check_parameters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG_PARAMETERS = {f.name for f in dataclasses.fields(TrainingConfig)} | {"recipe_name"}
#: A value of the wrong type for each chapter parameter (what papermill's -p makes of a typo).
WRONG_TYPE = {
    "compare_with_seed": "false",
    "mistakes_to_show": "24",
    "analysis_images": 1000.0,
    "parameter_budget": "81674",
    "accuracy_thresholds": 0.95,
    "latency_repeats": 0,
    "large_batch": "1000",
}


def chapter_cells(path: Path) -> tuple[str, str]:
    """The source of the ``parameters`` cell and of the cell after it."""
    cells = json.loads(path.read_text())["cells"]
    index = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    return "".join(cells[index]["source"]), "".join(cells[index + 1]["source"])


def declared(source: str) -> dict[str, object]:
    """Name -> default value of every assignment in a parameters cell."""
    values = {}
    for node in ast.parse(source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.unparse(node)
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def test_papermill_false_string_is_rejected_with_how_to_pass_a_boolean():
    with pytest.raises(ConfigError) as caught:
        check_parameters(compare_with_seed="false")
    assert caught.value.field_name == "compare_with_seed"
    message = str(caught.value)
    assert "'compare_with_seed': 'false'" in message
    assert "-p compare_with_seed False" in message and "-y 'compare_with_seed: false'" in message
    check_parameters(compare_with_seed=False)
    check_parameters(compare_with_seed=True)


@pytest.mark.parametrize("value", [-5, 0, 101, 2.0, True, "16"])
def test_mistakes_to_show_out_of_range_or_type_is_rejected(value):
    with pytest.raises(ConfigError, match=r"'mistakes_to_show'.*an integer from 1 to 100"):
        check_parameters(mistakes_to_show=value)


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("analysis_images", 0, "an integer from 1 to 10000"),
        ("analysis_images", 10_001, "an integer from 1 to 10000"),
        ("parameter_budget", 999, "an integer from 1000 to 1000000"),
        ("parameter_budget", 1_000_001, "an integer from 1000 to 1000000"),
        ("accuracy_thresholds", [], "a list of 1 to 5"),
        ("accuracy_thresholds", [0.95, 0.95], "different accuracies"),
        ("accuracy_thresholds", [0.955], "each a whole percentage"),
        ("accuracy_thresholds", [1.5], "in (0, 1]"),
        ("accuracy_thresholds", [float("nan")], "in (0, 1]"),
        ("accuracy_thresholds", [True], "in (0, 1]"),
        ("accuracy_thresholds", "0.95", "a list"),
    ],
)
def test_each_chapter_parameter_names_itself_and_its_range(name, value, allowed):
    with pytest.raises(ConfigError) as caught:
        check_parameters(**{name: value})
    assert caught.value.field_name == name
    assert allowed in str(caught.value)


def test_unknown_parameter_is_named_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"'mistakes_to_shw'.*a chapter parameter: .*mistakes_to_show"):
        check_parameters(mistakes_to_shw=3)


def test_config_booleans_take_the_same_hint():
    with pytest.raises(ConfigError, match=r"'bidirectional'.*-p bidirectional False"):
        TrainingConfig(bidirectional="false")


def test_the_budget_range_is_one_every_contender_can_meet():
    from rnn_mnist import comparison

    for budget in (1_000, 1_000_000):
        configs = comparison.comparison_configs(comparison.comparison_base(), budget)
        for config in configs.values():
            assert 1 <= config.units <= 4096
    with pytest.raises(ValueError, match="below the smallest dense model"):
        comparison.comparison_configs(comparison.comparison_base(), 804)  # the dense baseline needs 805


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_chapter_parameter_is_validated_and_its_default_passes(path):
    parameters_cell, next_cell = chapter_cells(path)
    values = declared(parameters_cell)
    own = {name: value for name, value in values.items() if name not in CONFIG_PARAMETERS}
    unchecked = set(own) - set(CHAPTER_PARAMETERS)
    assert not unchecked, f"{path.name}: no check for {sorted(unchecked)}; add it to config.CHAPTER_PARAMETERS"
    check_parameters(**own)  # the defaults pass
    calls = [node for node in ast.walk(ast.parse(next_cell))
             if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("check_parameters")]
    passed = {k.arg for call in calls for k in call.keywords
              if isinstance(k.value, ast.Name) and k.value.id == k.arg}
    assert set(own) <= passed, f"{path.name}: the cell after the parameters checks {sorted(passed)}, not {sorted(own)}"
    assert "config_from_parameters" in next_cell or "comparison_base" in next_cell


@pytest.mark.parametrize(
    ("path", "name"),
    [(p, n) for p in NOTEBOOKS for n in declared(chapter_cells(p)[0]) if n in CHAPTER_PARAMETERS],
    ids=lambda x: x.stem if isinstance(x, Path) else x,
)
def test_a_chapter_stops_at_a_bad_parameter_before_using_it(path, name):
    """Run the parameters cell, papermill's injected value, then the next cell: ConfigError first."""
    parameters_cell, next_cell = chapter_cells(path)
    namespace = {"rnn_mnist": rnn_mnist}
    exec(parameters_cell, namespace)  # noqa: S102 - the chapter's own cell
    namespace[name] = WRONG_TYPE[name]
    with pytest.raises(ConfigError) as caught:
        exec(next_cell, namespace)  # noqa: S102
    assert caught.value.field_name == name
