"""One collapsed "Reproducibility details" block per chapter.

What a careful reader may want in order to reproduce a page (versions, the
device, where the data came from and its checksums, which stored run was read
and how it was executed) is kept off the lesson's path: each chapter ends with
one call to :func:`details`, which renders as an HTML ``<details>`` element,
closed until the reader opens it, on the website, in Jupyter and in Colab.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from .device import describe_device, library_versions

SUMMARY = "Reproducibility details"


def _table(rows: Mapping[str, Any]) -> str:
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(name))}</th>"
        f"<td style='text-align:left'><code>{html.escape(str(value))}</code></td></tr>"
        for name, value in rows.items()
    )
    return f"<table>{body}</table>"


def _section(title: str, rows: Mapping[str, Any]) -> str:
    return f"<p><strong>{html.escape(title)}</strong></p>{_table(rows)}" if rows else ""


def details_html(*, config=None, run=None, data=None) -> str:
    """The block's HTML: environment, then the data, the config and the run when given.

    ``config`` is a :class:`~rnn_mnist.config.TrainingConfig`, ``run`` a
    :class:`~rnn_mnist.runs.TrainingRun` (its config is used when ``config`` is
    not given), ``data`` an :class:`~rnn_mnist.data.MnistArrays` (source and
    the SHA-256 of each array).
    """
    if config is None and run is not None:
        config = run.config
    sections = [_section("Software", library_versions())]
    device = describe_device(config)
    sections.append(_section("Device", {"backend": device["backend"], "device": device["summary"]}))
    if data is not None:
        from .data import array_sha256

        rows = {"dataset": getattr(data, "dataset", "mnist"), "source": data.source}
        for name in ("x_train", "y_train", "x_test", "y_test"):
            array = getattr(data, name)
            rows[f"{name} {array.shape} {array.dtype}"] = f"sha256 {array_sha256(array)}"
        sections.append(_section("Data", rows))
    if config is not None:
        sections.append(_section(f"Config (run id {config.run_id()})", config.to_dict()))
    if run is not None:
        metrics = run.metrics
        rows = {
            "stored in": run.run_dir,
            "finished at": metrics.get("finished_at"),
            "trained on": metrics.get("device", {}).get("summary"),
            "training seconds (sum of epochs)": round(float(metrics.get("train_seconds", 0.0)), 1),
            "execution": metrics.get("execution"),
            "versions it was trained with": metrics.get("versions"),
        }
        sections.append(_section("Stored run", {k: v for k, v in rows.items() if v is not None}))
    return f"<details><summary>{SUMMARY}</summary>{''.join(sections)}</details>"


def details(*, config=None, run=None, data=None):
    """The block, displayed by Jupyter (an :class:`IPython.display.HTML`)."""
    from IPython.display import HTML

    return HTML(details_html(config=config, run=run, data=data))
