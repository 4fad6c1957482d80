"""Keras 3 portability: the package runs on the JAX backend without TensorFlow.

The JAX test target (scripts/test-jax.sh) runs the model, data, splits,
training-run, comparison and distribution tests with ``KERAS_BACKEND=jax`` in
an environment that has no TensorFlow at all. These tests check the
precondition: no module of the package imports TensorFlow unless the backend
is TensorFlow.
"""

import ast
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rnn_mnist"


def module_level_imports(path: Path) -> set[str]:
    """Top-level packages imported when the module is imported (not inside functions)."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.stem)
def test_no_module_imports_tensorflow_or_jax_at_import_time(path):
    imported = module_level_imports(path)
    assert not imported & {"tensorflow", "jax", "torch"}, (
        f"{path.name} imports {imported & {'tensorflow', 'jax', 'torch'}} unconditionally; "
        "import it inside the function that needs it, after checking keras.backend.backend()"
    )


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed here (see scripts/test-jax.sh)")
def test_every_module_imports_and_trains_on_jax_without_tensorflow(tmp_path):
    script = textwrap.dedent(
        """
        import importlib, importlib.util, pkgutil, sys, json
        import keras
        import rnn_mnist
        for module in pkgutil.iter_modules(rnn_mnist.__path__):
            if module.name == "export" and importlib.util.find_spec("onnxruntime") is None:
                continue  # the optional "onnx" extra (the ONNX export runs on the TensorFlow backend)
            importlib.import_module(f"rnn_mnist.{module.name}")
        from rnn_mnist.config import default_config
        from rnn_mnist.runs import ensure_trained
        run = ensure_trained(default_config(epochs=1, units=8, train_size=200, validation_size=100,
                                            test_size=100), sys.argv[1], verbose=0)
        print(json.dumps({"backend": keras.backend.backend(), "tensorflow": "tensorflow" in sys.modules,
                          "recorded": run.metrics["device"]["backend"], "accuracy": run.test_accuracy}))
        """
    )
    environment = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                            timeout=600, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax" and report["recorded"] == "jax"
    assert report["tensorflow"] is False, "a module imported TensorFlow under the JAX backend"
    assert 0.0 <= report["accuracy"] <= 1.0
