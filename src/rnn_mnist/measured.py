"""Numbers measured on other machines, which the chapters quote: the GPU benchmark and the recipe's choice.

The chapters run where the repository is not (Colab installs only this package), so
these measurements ship with the package as ``measurements.json``, written by
``benchmarks/summarize_measurements.py`` from the raw results in ``docs/results/``.
"""

from __future__ import annotations

import json
import statistics
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["first_epoch_reaching", "load_measurements", "recipe_choice_table", "step_cost_table"]


def first_epoch_reaching(values, threshold: float) -> int | None:
    """The first epoch (counted from 1) whose value reaches ``threshold``; ``None`` if none does."""
    return next((epoch for epoch, value in enumerate(values, start=1) if value >= threshold), None)


@lru_cache(maxsize=1)
def load_measurements() -> dict[str, Any]:
    """The whole ``measurements.json`` (see :mod:`benchmarks.summarize_measurements`)."""
    return json.loads(resources.files(__package__).joinpath("measurements.json").read_text())


def recipe_choice_table(evidence: dict[str, Any], baseline: str):
    """One row per variant: final validation accuracy per seed, mean, and the mean paired difference from ``baseline``.

    ``evidence`` is one entry of ``load_measurements()["recipe_choice"]``. The
    difference is taken seed by seed, on the seeds both variants have.
    """
    import pandas as pd

    variants = evidence["variants"]
    base = {int(s): v for s, v in variants[baseline]["final_val_accuracy"].items()}
    rows = {}
    for name, entry in variants.items():
        finals = {int(s): v for s, v in entry["final_val_accuracy"].items()}
        shared = sorted(set(finals) & set(base))
        differences = [finals[s] - base[s] for s in shared]
        reach = [e for e in entry["epoch_reaching_threshold"].values() if e is not None]
        rows[name] = {
            "seeds": len(finals),
            "final validation accuracy, mean": statistics.fmean(finals.values()),
            "lowest": min(finals.values()),
            "highest": max(finals.values()),
            "difference from the book's recipe (points)": None if name == baseline else
            100 * statistics.fmean(differences),
            "standard deviation of that difference": None if name == baseline or len(differences) < 2 else
            100 * statistics.stdev(differences),
            "epochs to 98.8% validation, mean": statistics.fmean(reach) if reach else None,
        }
    order = [baseline] + [name for name in rows if name != baseline]
    return pd.DataFrame.from_dict(rows, orient="index").loc[order].rename_axis("variant")


def step_cost_table(steps_per_execution: int = 1):
    """Milliseconds per training step of each variant, per machine, and the ratio to the plainest."""
    import pandas as pd

    rows = []
    for machine, result in load_measurements()["step_cost"].items():
        for row in result["table"]:
            if row["steps_per_execution"] == steps_per_execution:
                rows.append({"machine": machine, "variant": row["variant"], "ms per step": row["ms_per_step"],
                             "x the plainest": row["ratio_to_plainest"]})
    return pd.DataFrame(rows).pivot(index="variant", columns="machine")
