"""The import rules of the layout (README "Layout", docs/ARCHITECTURE): imports follow the data flow, and the web's
audiences stand apart. Read from the source's syntax trees, so a rule broken anywhere (even inside a function)
fails here rather than in a deployment that lacks the other package."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"storage", "producer", "consumer", "webapp"}
MAY_IMPORT = {"storage": set(), "producer": {"storage"}, "consumer": {"storage", "producer"}, "webapp": {"storage", "producer"}}
AUDIENCES = ("webapp.api", "webapp.pages", "webapp.admin")
CONSUMER_NEVER = ("storage.db", "storage.models", "storage.migrations", "sqlalchemy", "alembic")  # the bus reports, not the database


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved against its package."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # ``from webapp import api`` names a module
    return names


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_a_package_imports_only_the_packages_upstream_of_it(package):
    broken = {
        f"{module_name(path)} imports {name}"
        for path in sources(package)
        for name in imported(path)
        if name.split(".")[0] in OURS - {package} - MAY_IMPORT[package]
    }
    assert broken == set(), f"{package} may import only {sorted(MAY_IMPORT[package]) or 'nothing of ours'}"


def test_the_consumer_never_touches_the_database():
    broken = {f"{module_name(path)} imports {name}" for path in sources("consumer") for name in imported(path) if name.startswith(CONSUMER_NEVER)}
    assert broken == set()


@pytest.mark.parametrize("audience", AUDIENCES)
def test_the_webs_audiences_never_import_each_other(audience):
    others = [other for other in AUDIENCES if other != audience]
    broken = {
        f"{module_name(path)} imports {name}"
        for path in sources(audience)
        for name in imported(path)
        if any(within(name, other) for other in others)
    }
    assert broken == set(), f"{audience} builds on the web's shared core only; move what both need to webapp/"


def test_the_rules_see_a_broken_import(tmp_path, monkeypatch):
    """The walk itself: an import inside a function, and a relative one, are both found."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "storage").mkdir()
    module = tmp_path / "storage" / "sneaky.py"
    module.write_text("def f():\n    import webapp.jobs\n    from .objects import ObjectStore\n")
    assert {"webapp.jobs", "storage.objects", "storage.objects.ObjectStore"} <= imported(module)
