"""The packages keep the layers of docs/ARCHITECTURE.md, and the contract (.importlinter) catches the
upward import someone might add tomorrow, lazy imports inside functions included."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# The packages the contract covers, as .importlinter names them.
PACKAGES = re.search(r"root_packages\s*=\s*\n((?:\s+\w+\n)+)", (ROOT / ".importlinter").read_text())[1].split()


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120)


def tree_copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tree / ".importlinter")
    return tree


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n\n{line}\n")


def test_it_keeps_every_import_in_its_layer():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_it_fails_on_an_upward_import_even_inside_a_function(tmp_path):
    tree = tree_copy(tmp_path)
    add_line(tree / "core" / "phrasing.py", "def _sneaky():\n    from voiceapi import views  # noqa: F401")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "core is not allowed to import voiceapi" in result.stdout


def test_it_fails_when_two_domains_of_one_layer_import_each_other(tmp_path):
    tree = tree_copy(tmp_path)
    add_line(tree / "orders" / "services.py", "from bookings.selectors import availability_check  # noqa: E402,F401")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "orders is not allowed to import bookings" in result.stdout


def test_it_fails_when_the_voice_worker_imports_a_model(tmp_path):
    tree = tree_copy(tmp_path)
    add_line(tree / "voiceworker" / "agent.py", "def _sneaky():\n    from calls.models import Call  # noqa: F401")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "voiceworker.agent -> calls.models" in result.stdout


def test_it_fails_when_production_code_imports_the_test_plumbing(tmp_path):
    tree = tree_copy(tmp_path)
    add_line(tree / "bookings" / "services.py", "from testing.demo_tenants import SALON_NUMBER  # noqa: E402,F401")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "bookings.services -> testing.demo_tenants" in result.stdout
