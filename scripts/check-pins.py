"""Stop unless every `name==version` pin of a requirements file is what is installed.

    python scripts/check-pins.py REQUIREMENTS_FILE "LABEL"

Run with the Python of the environment to check (the test targets' .venv-min, .venv-colab):
a resolver that quietly moved one pin would leave the target testing something else. On a
mismatch it exits with one line: "LABEL: installed versions differ from REQUIREMENTS_FILE: ...".
"""

import re
import sys
from importlib.metadata import version

requirements, label = sys.argv[1], sys.argv[2]
wrong = []
for line in open(requirements):
    match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
    if match and version(match[1]) != match[2]:
        wrong.append(f"{match[1]} {version(match[1])} (pinned {match[2]})")
if wrong:
    raise SystemExit(f"{label}: installed versions differ from {requirements}: " + ", ".join(wrong))
