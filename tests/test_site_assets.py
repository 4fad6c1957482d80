"""The browser files the site serves itself: pinned by npm, copied by the build (no network here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rnn_mnist import site_assets
from rnn_mnist.site_assets import (
    MODEL_FILE,
    SITE_FILES,
    STAMP,
    copy_site_assets,
    install_node_packages,
    lock_digest,
)

ROOT = Path(__file__).resolve().parents[1]


def test_the_browser_packages_are_pinned_exactly_and_locked():
    dependencies = json.loads((ROOT / "package.json").read_text())["dependencies"]
    assert set(dependencies) == {"onnxruntime-web", "mathjax"}
    assert all(version[0].isdigit() for version in dependencies.values()), dependencies
    assert dependencies["mathjax"].startswith("3."), "Sphinx's mathjax_path expects MathJax 3"
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    for name, version in dependencies.items():
        assert locked[f"node_modules/{name}"]["version"] == version
        assert locked[f"node_modules/{name}"]["integrity"].startswith("sha512-")  # npm ci checks the tarball


def test_the_site_copies_the_small_webassembly_build_only():
    copied = [source for package, source, _ in SITE_FILES if package == "onnxruntime-web"]
    assert copied == ["dist/ort.wasm.bundle.min.mjs", "dist/ort-wasm-simd-threaded.wasm"]
    assert not any("jsep" in target or "webgpu" in target or target.endswith(".js") for _, _, target in SITE_FILES
                   if target.startswith("onnxruntime-web"))


def test_sphinx_loads_the_sites_own_mathjax():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert config["mathjax_path"] == "vendor/mathjax/tex-chtml.js"
    assert ("mathjax", "es5/tex-chtml.js", "mathjax/tex-chtml.js") in SITE_FILES


def fake_checkout(tmp_path: Path, installed: bool) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "package-lock.json").write_text('{"lockfileVersion": 3}')
    for package, source, _ in SITE_FILES:
        path = tmp_path / "node_modules" / package / source
        if path.suffix or path.name == "LICENSE":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{package} {source}")
        else:
            path.mkdir(parents=True, exist_ok=True)
            (path / "part.js").write_text(source)
    if installed:
        (tmp_path / "node_modules" / STAMP).write_text(lock_digest(tmp_path))
    return tmp_path


def test_npm_is_not_run_when_node_modules_matches_the_lock(tmp_path, monkeypatch):
    root = fake_checkout(tmp_path, installed=True)
    monkeypatch.setattr(site_assets.subprocess, "run", lambda *a, **k: pytest.fail("npm ci ran"))
    assert install_node_packages(root) == root / "node_modules"


def test_a_changed_lock_without_npm_names_what_to_install(tmp_path, monkeypatch):
    root = fake_checkout(tmp_path, installed=True)
    (root / "package-lock.json").write_text('{"lockfileVersion": 3, "changed": true}')
    monkeypatch.setattr(site_assets.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="needs Node.js and npm"):
        install_node_packages(root)


def test_the_copy_puts_the_files_under_static_vendor_and_needs_chapter_9s_model(tmp_path):
    root = fake_checkout(tmp_path / "checkout", installed=True)
    html = tmp_path / "html"
    with pytest.raises(FileNotFoundError, match="chapter 9"):
        copy_site_assets(root, html)
    (html / MODEL_FILE).parent.mkdir(parents=True)
    (html / MODEL_FILE).write_bytes(b"onnx")
    copied = copy_site_assets(root, html)
    assert len(copied) == len(SITE_FILES)
    wasm = html / "_static/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm"
    assert wasm.read_text() == "onnxruntime-web dist/ort-wasm-simd-threaded.wasm"
    assert (html / "_static/vendor/mathjax/output/chtml/part.js").is_file()
