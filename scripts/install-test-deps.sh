#!/usr/bin/env bash
# Install what the test suite needs beyond requirements.txt:
#   - Debian's Chromium and ChromeDriver, for the real-browser tests (tests/test_browser.py).
#     Playwright drives /usr/bin/chromium; no browser is ever downloaded at run time.
#   - The pinned Python test tools of requirements-test.txt, into the project's venv.
#
# Idempotent and quick when everything is there (no apt-get, no pip run).
# Usage: scripts/install-test-deps.sh [VENV]   (default: .venv in the repository root)
# Environment: CI=true makes a missing Chromium that cannot be installed an error
# (locally it is a warning, and the browser tests skip with that reason).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${1:-.venv}
PYTHON="$VENV/bin/python"
REQUIREMENTS=requirements-test.txt
STAMP="$VENV/.test-requirements-installed"

is_ci() {
  case "${CI:-}" in "" | 0 | false | False | FALSE | no) return 1 ;; *) return 0 ;; esac
}

# --- Chromium and ChromeDriver (Debian packages) ---------------------------------
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  :
else
  packages=(chromium chromium-driver fonts-dejavu-core)
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    as_root=(false)
  fi
  if command -v apt-get >/dev/null 2>&1 && [ "${as_root[0]:-}" != false ]; then
    echo "install-test-deps: installing ${packages[*]} with apt-get" >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  fi
  if ! command -v chromium >/dev/null 2>&1; then
    message="install-test-deps: Chromium is not installed and apt-get (as root) is not available; install the Debian packages: ${packages[*]}"
    if is_ci; then
      echo "$message" >&2
      exit 1
    fi
    echo "$message (the browser tests will skip)" >&2
  fi
fi

# --- Node.js and npm (the book build runs `npm ci` for the site's browser files) ------
if ! command -v npm >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    echo "install-test-deps: installing nodejs npm with apt-get" >&2
    env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  else
    echo "install-test-deps: npm is not installed; the book build needs Node.js and npm (see README)" >&2
  fi
fi

# --- Python test tools ------------------------------------------------------------
if [ ! -x "$PYTHON" ]; then
  echo "install-test-deps: no Python at $PYTHON; run 'make setup' first" >&2
  exit 1
fi
wanted=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$wanted" ]; then
  echo "install-test-deps: installing $REQUIREMENTS into $VENV" >&2
  # Playwright is used only as a driver for Debian's Chromium.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$PYTHON" -m pip install --quiet --disable-pip-version-check \
    -r "$REQUIREMENTS"
  echo "$wanted" >"$STAMP"
fi
