"""`ml` is framework-free: no module imports Django or the web app's packages."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ML = Path(__file__).resolve().parents[2] / "ml"
FORBIDDEN = ("django", "batsite", "surveys", "classifier")
IMPORT = re.compile(
    r"^\s*(?:from\s+(?P<from>[\w.]+)\s+import|import\s+(?P<imports>[\w., ]+))"
    r"|import_module\(\s*['\"](?P<dynamic>[\w.]+)['\"]",
    re.MULTILINE,
)


def imported_roots(source: str) -> set[str]:
    roots: set[str] = set()
    for match in IMPORT.finditer(source):
        names = match.group("from") or match.group("dynamic") or match.group("imports") or ""
        for name in names.split(","):
            name = name.strip().split(" as ")[0].strip()
            if name:
                roots.add(name.split(".")[0])
    return roots


def test_the_scanner_catches_every_import_form():
    source = (
        "import os, django.conf as c\n"
        "from batsite.settings import X\n"
        "importlib.import_module('surveys.models')\n"
    )

    assert imported_roots(source) >= {"os", "django", "batsite", "surveys"}


def test_no_ml_module_imports_django_or_the_web_apps():
    files = sorted(ML.rglob("*.py"))
    assert files, f"no Python files under {ML}"

    offenders = {
        str(path.relative_to(ML.parent)): sorted(imported_roots(path.read_text()) & set(FORBIDDEN))
        for path in files
    }

    assert {path: roots for path, roots in offenders.items() if roots} == {}


def test_importing_the_audio_layer_loads_no_django():
    code = (
        "import sys, ml.audio, ml.metadata, ml.labels, ml.commands.info\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in %r)\n"
        "print(bad); sys.exit(1 if bad else 0)" % (FORBIDDEN,)
    )

    result = subprocess.run([sys.executable, "-c", code], cwd=ML.parent, capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr
