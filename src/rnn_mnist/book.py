"""The book pipeline: execute the chapters with papermill, then build the site.

The order of chapters is the order of ``_toc.yml``; the parameters come from
one file, ``notebooks/parameters.yml``, by profile (``full`` for the real book,
``small`` for tests). Executed copies are written to ``book/notebooks/``
(git-ignored build products) and Jupyter Book renders them without executing
them again (``execute_notebooks: off`` in ``_config.yml``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from .site_assets import VENDOR_DIR, copy_site_assets, install_node_packages

BOOK_DIR = "book"
NOTEBOOKS_DIR = "notebooks"
EXECUTED_DIR = "book/notebooks"
PARAMETERS_FILE = "notebooks/parameters.yml"
RESULTS_PAGE = "book/results.md"
TOC_FILE = "_toc.yml"
CONFIG_FILE = "_config.yml"


class ChapterExecutionError(RuntimeError):
    """A chapter failed while papermill executed it."""


def repository_root(start: Path | None = None) -> Path:
    """The folder holding ``_toc.yml`` at or above ``start`` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / TOC_FILE).is_file() and (candidate / NOTEBOOKS_DIR).is_dir():
            return candidate
    raise FileNotFoundError(f"no {TOC_FILE} with a {NOTEBOOKS_DIR}/ folder beside it at or above {here}")


def _toc_files(node: Any) -> list[str]:
    files: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                files.append(node[key])
        for value in node.values():
            if isinstance(value, (list, dict)):
                files.extend(_toc_files(value))
    elif isinstance(node, list):
        for item in node:
            files.extend(_toc_files(item))
    return files


def toc_entries(root: Path) -> list[str]:
    """Every document of ``_toc.yml`` in reading order (paths relative to ``book/``)."""
    return _toc_files(yaml.safe_load((root / TOC_FILE).read_text()))


def chapter_names(root: Path) -> list[str]:
    """The chapter notebooks, in the order of the table of contents (e.g. ``01_data``)."""
    prefix = f"{NOTEBOOKS_DIR}/"
    return [entry[len(prefix):] for entry in toc_entries(root) if entry.startswith(prefix)]


def load_profile(root: Path, profile: str) -> dict[str, Any]:
    """The parameters of ``profile`` from ``notebooks/parameters.yml``, checked by :func:`check_profile`."""
    profiles = yaml.safe_load((root / PARAMETERS_FILE).read_text()) or {}
    if not isinstance(profiles, dict) or profile not in profiles:
        raise ValueError(
            f"Unknown parameter profile {profile!r} in {PARAMETERS_FILE}; "
            f"choose one of: {', '.join(sorted(profiles)) if isinstance(profiles, dict) else 'none'}"
        )
    values = profiles[profile] or {}
    if not isinstance(values, dict):
        raise ValueError(f"profile {profile!r} in {PARAMETERS_FILE} is not a mapping of parameter names to values")
    check_profile(root, profile, values)
    return dict(values)


def parameter_defaults(notebook: Path) -> dict[str, Any]:
    """Name -> default value of every assignment in the notebook's ``parameters`` cell (read, not run)."""
    import ast

    cells = json.loads(notebook.read_text())["cells"]
    source = "".join(parameters_cell({"cells": cells})["source"])
    defaults = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                defaults[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                defaults[node.targets[0].id] = None
    return defaults


def check_profile(root: Path, profile: str, values: dict[str, Any]) -> None:
    """Check a profile before any work starts: every name is some chapter's parameter, every value in range.

    Each chapter's parameters (its defaults, overridden by the profile) go
    through the same checks the chapter itself makes first,
    :func:`~rnn_mnist.config.config_from_parameters` and
    :func:`~rnn_mnist.config.check_parameters`. Raises :class:`ValueError`
    naming the profile, the chapter and the parameter.
    """
    import dataclasses

    from .config import CHAPTER_PARAMETERS, TrainingConfig, check_parameters, config_from_parameters

    where = f"profile {profile!r} in {PARAMETERS_FILE}"
    chapters = {name: parameter_defaults(root / NOTEBOOKS_DIR / f"{name}.ipynb") for name in chapter_names(root)}
    allowed = sorted(set().union(*chapters.values())) if chapters else []
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown parameter {', '.join(map(repr, unknown))}; "
                         f"the chapters' parameters are {', '.join(allowed)}")
    fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    for name, defaults in chapters.items():
        settings = {**defaults, **{key: value for key, value in values.items() if key in defaults}}
        try:
            check_parameters(**{key: value for key, value in settings.items() if key in CHAPTER_PARAMETERS})
            config_from_parameters(settings.get("recipe_name", "book"),
                                   **{key: value for key, value in settings.items() if key in fields})
        except ValueError as error:
            raise ValueError(f"{where}, chapter {name}: {error}") from None


def declared_parameters(notebook: Path) -> set[str]:
    """Names defined in the notebook's ``parameters`` cell."""
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def parameters_for(notebook: Path, profile_values: dict[str, Any]) -> dict[str, Any]:
    """The profile's values restricted to what this chapter declares."""
    declared = declared_parameters(notebook)
    return {name: value for name, value in profile_values.items() if name in declared}


def execute_chapter(root: Path, name: str, parameters: dict[str, Any], progress_bar: bool = True) -> Path:
    """Run ``notebooks/<name>.ipynb`` with papermill into ``book/notebooks/<name>.ipynb``.

    The executed copy appears only when every cell succeeded; a failure raises
    :class:`ChapterExecutionError` naming the chapter and the cell. A parameter
    the chapter does not declare (a misspelt name) is a :class:`ValueError` that
    names it and the chapter's parameters, raised before papermill starts.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from .lab.quiet import kernel_options

    source = root / NOTEBOOKS_DIR / f"{name}.ipynb"
    declared = parameter_defaults(source)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ValueError(f"chapter {name} has no parameter {', '.join(map(repr, unknown))}; "
                         f"its parameters are {', '.join(declared)}")
    target = root / EXECUTED_DIR / f"{name}.ipynb"
    scratch = root / BOOK_DIR / ".executing"
    scratch.mkdir(parents=True, exist_ok=True)
    partial = scratch / f"{name}.ipynb"
    try:
        with kernel_options() as quiet:  # no start-up noise in the chapter's outputs (lab/quiet.py)
            papermill.execute_notebook(
                str(source),
                str(partial),
                parameters=parameters,
                kernel_name="python3",
                cwd=str(source.parent),
                progress_bar=progress_bar,
                **quiet,
            )
    except PapermillExecutionError as error:
        raise ChapterExecutionError(
            f"Chapter {name} failed in cell {error.cell_index} (execution count {error.exec_count}): "
            f"{error.ename}: {error.evalue}. The partly executed copy is {partial}."
        ) from error
    errors = error_outputs(partial)
    if errors:
        raise ChapterExecutionError(f"Chapter {name} has error outputs in cells {errors}; see {partial}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)
    return target


def error_outputs(notebook: Path) -> list[int]:
    """Indices of cells whose outputs include an error."""
    cells = json.loads(notebook.read_text())["cells"]
    return [
        index
        for index, cell in enumerate(cells)
        if any(output.get("output_type") == "error" for output in cell.get("outputs", []))
    ]


def chapter_settings(root: Path, name: str, profile_values: dict[str, Any]) -> dict[str, Any]:
    """The parameters chapter ``name`` ran with: its own defaults, overridden by the profile."""
    import ast

    import papermill

    declared = papermill.inspect_notebook(str(root / NOTEBOOKS_DIR / f"{name}.ipynb"))
    settings = {}
    for parameter, info in declared.items():
        try:
            settings[parameter] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            continue  # a default that is an expression; no chapter's runs depend on one
    settings.update({key: value for key, value in profile_values.items() if key in declared})
    return settings


def chapter_title(root: Path, name: str) -> str:
    """The first ``# `` heading of the chapter's source notebook (its name if it has none)."""
    cells = json.loads((root / NOTEBOOKS_DIR / f"{name}.ipynb").read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return name


def _run_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {key: settings.get(key) for key in ("epochs", "batch_size", "train_size", "test_size")} | {
        "seed": settings.get("seed", 0)
    }


def _training_runs(settings: dict[str, Any]) -> list[tuple[str, Any]]:
    from .config import config_from_parameters

    recipe = settings.get("recipe_name", "book")
    runs = [("the book's recipe" if recipe == "book" else f"recipe {recipe!r}",
             config_from_parameters(recipe, **_run_settings(settings)))]
    if settings.get("compare_with_seed", True) and recipe != "seed":
        runs.append(("the seed notebook's recipe", config_from_parameters("seed", **_run_settings(settings))))
    return runs


def _comparison_runs(settings: dict[str, Any]) -> list[tuple[str, Any]]:
    from .comparison import DEFAULT_BUDGET, comparison_base, comparison_configs

    base = comparison_base(settings.get("recipe_name", "book"), **_run_settings(settings))
    return list(comparison_configs(base, settings.get("parameter_budget", DEFAULT_BUDGET)).items())


def _other_dataset_runs(settings: dict[str, Any]) -> list[tuple[str, Any]]:
    from .comparison import comparison_base
    from .data import dataset_info

    recipe = settings.get("recipe_name", "book")
    dataset = settings.get("dataset", "fashion_mnist")
    return [
        (f"LSTM on {dataset_info(name).title}", comparison_base(recipe, dataset=name, **_run_settings(settings)))
        for name in ("mnist", dataset)
    ]


#: The chapters that train models, and the configs of the runs each reads. A chapter that is
#: not listed here (a new one) still gets its line on the results page, without a run table.
CHAPTER_RUNS = {
    "03_training": _training_runs,
    "07_which_cell": _comparison_runs,
    "08_beyond_digits": _other_dataset_runs,
}


def _percent(value: Any) -> str:
    return "—" if value is None else f"{value:.2%}"


def _count(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def _run_rows(runs: list[tuple[str, Any]]) -> list[str]:
    """Markdown table rows for the stored runs among ``runs`` (a run not stored is left out)."""
    from .runs import find_run

    rows = []
    for title, config in runs:
        run = find_run(config)
        if run is None:
            continue
        m = run.metrics
        sizes = m.get("sizes", {})
        rows.append(
            f"| {title} | {config.model_name} | {_count(m.get('parameters'))} | {_count(m.get('epochs'))} | "
            f"{_count(sizes.get('train'))} | {_count(sizes.get('test'))} | {_percent(m.get('test_accuracy'))} | "
            f"{m['seconds_per_epoch']:.1f} |"
        )
    return rows


def write_results_page(root: Path, profile_values: dict[str, Any]) -> Path:
    """``book/results.md``: what the book's own run measured, generated from the stored runs.

    The first table is chapter 3's (the book's recipe against the seed notebook's); then
    every chapter of the table of contents gets a section, with a table of the runs it
    trained when it is one of :data:`CHAPTER_RUNS`.
    """
    from .runs import find_run

    chapters = chapter_names(root)
    training = "03_training"
    settings = chapter_settings(root, training, profile_values) if training in chapters else dict(profile_values)
    rows = []
    for title, config in _training_runs(settings):
        run = find_run(config)
        if run is not None:
            rows.append((title[0].upper() + title[1:], config, run))
    if not rows or rows[0][1].label != "book":
        raise FileNotFoundError(
            "The book's run is not stored yet; execute the chapters first (rnn-mnist book)."
        )
    main_run = rows[0][2]
    metrics = main_run.metrics
    lines = [
        "# Results",
        "",
        "This page is generated by the book build from the stored training runs that the chapters "
        "narrate, so the numbers below are the ones this copy of the book measured.",
        "",
        "## Test accuracy",
        "",
        "| Recipe | Test accuracy | Test loss | Epochs | Seconds per epoch (median) | Training seconds | Run |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for title, config, run in rows:
        m = run.metrics
        lines.append(
            f"| {title} | {m['test_accuracy']:.2%} | {m['test_loss']:.4f} | {m['epochs']} | "
            f"{m['seconds_per_epoch']:.1f} | {m['train_seconds']:.0f} | `{config.run_id()}` |"
        )
    lines += [
        "",
        "Each run was trained once, from one seed: a gap between two of them includes the variation "
        "from one seed to another, which a single run cannot measure.",
        "",
        "## Chapter by chapter",
        "",
    ]
    without_table = []
    for number, name in enumerate(chapters, start=1):
        title = chapter_title(root, name)
        table = _run_rows(CHAPTER_RUNS[name](chapter_settings(root, name, profile_values))) if name in CHAPTER_RUNS else []
        if not table:
            without_table.append(f"[{number}. {title}]({NOTEBOOKS_DIR}/{name}.ipynb)")
            continue
        lines += [
            f"### {number}. [{title}]({NOTEBOOKS_DIR}/{name}.ipynb)",
            "",
            "| Run | Model | Parameters | Epochs | Training images | Test images | Test accuracy "
            "| Seconds per epoch (median) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *table,
            "",
        ]
    if without_table:
        lines += [
            "The other chapters have no run table here; what they measured is on their own pages: "
            + ", ".join(without_table) + ".",
            "",
        ]
    sizes = metrics["sizes"]
    lines += [
        "## How it was measured",
        "",
        f"- Data: {sizes['train']:,} training images, {sizes['validation']:,} validation images, "
        f"{sizes['test']:,} test images for the book's recipe; served by {metrics['data_source']}.",
        f"- Device: {metrics['device']['summary']} (Keras backend: {metrics['device']['backend']}).",
        f"- Trained: {metrics['finished_at']}; book built: "
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}.",
        "",
        "## Library versions",
        "",
        "| Library | Version |",
        "| --- | --- |",
    ]
    lines += [f"| {name} | {version} |" for name, version in sorted(metrics["versions"].items())]
    lines += [
        "",
        "## The configuration",
        "",
        "```json",
        json.dumps(main_run.config.to_dict(), indent=2, sort_keys=True),
        "```",
        "",
    ]
    page = root / RESULTS_PAGE
    page.write_text("\n".join(lines))
    return page


def write_intro_figure(root: Path, profile_values: dict[str, Any]) -> Path:
    """``book/_static/landing.png``, the intro page's figure, drawn from the book's stored run."""
    from .landing import write_landing_figure

    return write_landing_figure(root, profile_values)


def jupyter_book_command() -> list[str]:
    local = Path(sys.executable).with_name("jupyter-book")
    return [str(local) if local.exists() else (shutil.which("jupyter-book") or "jupyter-book")]


def build_html(root: Path) -> Path:
    """``jupyter-book build book/`` with warnings as errors; returns the HTML folder."""
    command = [*jupyter_book_command(), "build", BOOK_DIR, "-W", "-n", "--keep-going"]
    result = subprocess.run(command, cwd=root, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed (exit {result.returncode}); see its output above.")
    return root / BOOK_DIR / "_build" / "html"


def add_site_assets(root: Path, html: Path) -> None:
    """Copy the pinned ONNX Runtime Web and MathJax files into the built site (see site_assets)."""
    copied = copy_site_assets(root, html)
    print(f"Copied {len(copied)} browser files (ONNX Runtime Web, MathJax) into {html / VENDOR_DIR}")


def runs_the_chapters_read(root: Path, profile_values: dict[str, Any]) -> list[Any]:
    """The configs of every run the chapters of the table of contents read (:data:`CHAPTER_RUNS`)."""
    configs = {}
    for name in chapter_names(root):
        if name in CHAPTER_RUNS:
            for _, config in CHAPTER_RUNS[name](chapter_settings(root, name, profile_values)):
                configs.setdefault(config.run_id(), config)
    return list(configs.values())


def _execute_timed(root: Path, name: str, parameters: dict[str, Any], progress_bar: bool) -> float:
    started = time.perf_counter()
    execute_chapter(root, name, parameters, progress_bar=progress_bar)
    return time.perf_counter() - started


def execute_chapters(root: Path, profile_values: dict[str, Any], jobs: int = 1) -> dict[str, float]:
    """Execute every chapter, ``jobs`` at a time, each in its own kernel; returns seconds per chapter.

    With ``jobs > 1`` the chapters must not depend on one another's side effects
    other than stored runs (which are locked, and trained beforehand by the
    book build). The first failing chapter stops the others and is raised.
    """
    chapters = chapter_names(root)
    settings = {name: parameters_for(root / NOTEBOOKS_DIR / f"{name}.ipynb", profile_values) for name in chapters}
    timings: dict[str, float] = {}
    if jobs <= 1:
        for number, name in enumerate(chapters, start=1):
            print(f"[{number}/{len(chapters)}] executing {name} with {settings[name] or 'its own defaults'}", flush=True)
            timings[name] = _execute_timed(root, name, settings[name], progress_bar=True)
        return timings
    from .lab.parallel_runs import run_in_processes

    def report(name: str, future) -> None:
        timings[name] = future.result()
        print(f"  executed {name} in {timings[name]:.1f} s ({len(timings)}/{len(chapters)})", flush=True)

    print(f"Executing {len(chapters)} chapters, {jobs} at a time", flush=True)
    run_in_processes({name: (_execute_timed, root, name, settings[name], False) for name in chapters}, jobs, report)
    return {name: timings[name] for name in chapters}


def build_book(root: Path, profile: str = "full", build_html_site: bool = True, jobs: int | None = None) -> Path:
    """Train the runs the chapters read, execute every chapter, write the results page, build the site.

    ``jobs`` runs (then chapters) go at once, each in its own process (default:
    :func:`rnn_mnist.lab.parallel_runs.default_workers`, two on a machine with two or
    more cores); ``jobs=1`` trains and executes one after the other, in TOC order.
    """
    from .lab.quiet import filtered_stderr

    with filtered_stderr():  # TensorFlow's start-up lines, here and in every worker and kernel (lab/quiet.py)
        return _build_book(root, profile, build_html_site, jobs)


def _build_book(root: Path, profile: str, build_html_site: bool, jobs: int | None) -> Path:
    from .lab.parallel_runs import default_workers, train_runs

    root = repository_root(root)
    profile_values = load_profile(root, profile)
    jobs = default_workers() if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if build_html_site:
        install_node_packages(root)  # before the chapters run, so a missing npm is reported at once
    wall_started = time.perf_counter()
    timings: dict[str, float] = {}
    if jobs > 1:
        started = time.perf_counter()
        trained = train_runs(runs_the_chapters_read(root, profile_values), workers=jobs)
        if trained:
            timings["training the runs"] = time.perf_counter() - started
    timings.update(execute_chapters(root, profile_values, jobs))
    started = time.perf_counter()
    write_results_page(root, profile_values)
    write_intro_figure(root, profile_values)
    html = root / BOOK_DIR / "_build" / "html"
    if build_html_site:
        html = build_html(root)
        add_site_assets(root, html)
    timings["results page and site"] = time.perf_counter() - started
    print("\nStep times (seconds):")
    for step, seconds in timings.items():
        print(f"  {step:30s} {seconds:7.1f}")
    wall = time.perf_counter() - wall_started
    print(f"  {'wall clock (steps overlap)' if jobs > 1 else 'wall clock':30s} {wall:7.1f}")
    print(f"\nThe book is at {html / 'index.html'}")
    return html


def sync_nbmake_mocks(root: Path, profile: str = "small") -> list[str]:
    """Write the ``small`` profile into each chapter's nbmake mock metadata.

    ``pytest --nbmake notebooks/`` then runs every chapter on the small
    parameters, while papermill builds the book with the real ones. Returns
    the chapters whose metadata changed.
    """
    import nbformat

    profile_values = load_profile(root, profile)
    changed = []
    for name in chapter_names(root):
        path = root / NOTEBOOKS_DIR / f"{name}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        cell = parameters_cell(notebook)
        mocks = parameters_for(path, profile_values)
        if cell.metadata.get("nbmake", {}).get("mock") != mocks:
            cell.metadata.setdefault("nbmake", {})["mock"] = mocks
            nbformat.write(notebook, path)
            changed.append(name)
    return changed


def parameters_cell(notebook) -> Any:
    """The one cell tagged ``parameters`` of a notebook (nbformat's, or its JSON read as a dict)."""
    cells = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"expected exactly one cell tagged 'parameters', found {len(cells)}")
    return cells[0]
