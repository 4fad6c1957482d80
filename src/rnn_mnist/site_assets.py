"""The browser files the built site serves itself: ONNX Runtime Web and MathJax.

``package.json`` and ``package-lock.json`` pin them; :func:`install_node_packages`
runs ``npm ci`` when ``node_modules/`` does not match the lock file, and
:func:`copy_site_assets` copies only the files a page loads into the built site's
``_static/vendor/`` (after Sphinx, because Jupyter Book links every ``*.js`` under
``book/_static`` into every page). Nothing is loaded from a CDN: ``_config.yml``
points Sphinx's ``mathjax_path`` at the copy, and the "Draw a digit" page
(``book/draw.md``) imports ONNX Runtime Web from it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

LOCK_FILE = "package-lock.json"
NODE_MODULES = "node_modules"
# Written into node_modules/ after a successful `npm ci`: the SHA-256 of the lock file it installed.
STAMP = ".rnn-mnist-lock-sha256"
VENDOR_DIR = "_static/vendor"
MODEL_FILE = "_static/models/row_reader.onnx"

# (package, path inside the package, path under _static/vendor/). Directories are copied whole.
SITE_FILES = (
    # The single-threaded WebAssembly build, ES module with its loader bundled in, and its
    # WebAssembly binary (not the WebGPU/JSEP variants, which are twice the size).
    ("onnxruntime-web", "dist/ort.wasm.bundle.min.mjs", "onnxruntime-web/ort.wasm.bundle.min.mjs"),
    ("onnxruntime-web", "dist/ort-wasm-simd-threaded.wasm", "onnxruntime-web/ort-wasm-simd-threaded.wasm"),
    # MathJax 3: TeX input and HTML output in one file, plus what it loads from beside itself:
    # its fonts, the TeX extensions it autoloads, and the menu's accessibility components.
    ("mathjax", "es5/tex-chtml.js", "mathjax/tex-chtml.js"),
    ("mathjax", "es5/output/chtml", "mathjax/output/chtml"),
    ("mathjax", "es5/input/tex/extensions", "mathjax/input/tex/extensions"),
    ("mathjax", "es5/ui", "mathjax/ui"),
    ("mathjax", "es5/a11y", "mathjax/a11y"),
    ("mathjax", "es5/sre", "mathjax/sre"),
    ("mathjax", "LICENSE", "mathjax/LICENSE"),
)


def lock_digest(root: Path) -> str:
    return hashlib.sha256((root / LOCK_FILE).read_bytes()).hexdigest()


def install_node_packages(root: Path) -> Path:
    """``npm ci`` in ``root`` unless ``node_modules/`` already holds what the lock file pins."""
    root = Path(root)
    if not (root / LOCK_FILE).is_file():
        raise FileNotFoundError(f"{root / LOCK_FILE} is missing; the site's browser packages are pinned there.")
    modules = root / NODE_MODULES
    wanted = lock_digest(root)
    stamp = modules / STAMP
    if stamp.is_file() and stamp.read_text().strip() == wanted:
        return modules
    if modules.is_symlink():
        raise RuntimeError(f"{modules} links to another checkout's packages, which do not match {root / LOCK_FILE}; "
                           "run `npm ci` there.")
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm is not on PATH: building the site needs Node.js and npm to install ONNX Runtime Web and "
            "MathJax (Debian/Ubuntu: apt-get install nodejs npm; macOS: brew install node; or https://nodejs.org)."
        )
    command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    result = subprocess.run(command, cwd=root, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(command[1:])}` failed in {root} (exit {result.returncode}); see its output above.")
    stamp.write_text(wanted + "\n")
    return modules


def copy_site_assets(root: Path, html: Path) -> list[Path]:
    """Copy the pinned browser files into ``html/_static/vendor/``; returns what was copied.

    Also checks that the "Draw a digit" page's model, which chapter 9 writes, is in the site.
    """
    modules = install_node_packages(root)
    html = Path(html)
    copied = []
    for package, source, target in SITE_FILES:
        origin = modules / package / source
        destination = html / VENDOR_DIR / target
        if not origin.exists():
            raise FileNotFoundError(f"{origin} is missing; run `npm ci` in {root} (package {package}).")
        destination.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, destination, dirs_exist_ok=True)
        else:
            shutil.copy2(origin, destination)
        copied.append(destination)
    if not (html / MODEL_FILE).is_file():
        raise FileNotFoundError(
            f"{html / MODEL_FILE} is missing: the 'Draw a digit' page runs the model that chapter 9 exports "
            "into book/_static/models/; execute every chapter (rnn-mnist book)."
        )
    return copied
