"""The import rules of the layout (README "Layout", ARCHITECTURE): imports follow the data flow, and the web's
audiences stand apart. Read from the source's syntax trees, so a rule broken anywhere (even inside a function)
fails here rather than in a deployment that lacks the other package."""

from __future__ import annotations

import ast
import configparser
import importlib
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"storage", "producer", "consumer", "webapp", "client"}
MAY_IMPORT = {
    "storage": set(),
    "producer": {"storage"},
    "consumer": {"storage", "producer"},
    "webapp": {"storage", "producer"},
    "client": set(),
}
CLIENT_THIRD_PARTY = {"requests"}  # a laptop installs the client with this alone (client/pyproject.toml)
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


def test_the_webs_shared_core_never_imports_an_audience():
    """Only the app factory (webapp/__init__.py) puts the audiences together."""
    core = [path for path in sources("webapp") if path.parent == ROOT / "webapp" and path.name != "__init__.py"]
    broken = {f"{module_name(path)} imports {name}" for path in core for name in imported(path) if any(within(name, a) for a in AUDIENCES)}
    assert broken == set()


def test_the_client_needs_only_the_standard_library_and_requests():
    outside = {
        f"{module_name(path)} imports {name}"
        for path in sources("client")
        for name in imported(path)
        if name.split(".")[0] not in sys.stdlib_module_names | CLIENT_THIRD_PARTY | {"client", "__future__"}
    }
    assert outside == set(), "the client installs alone on a laptop: stdlib and requests only"


def test_the_client_pins_requests_as_the_server_does():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    server = {line.split("==")[0]: line for line in setup["options"]["install_requires"].split()}
    client = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [server[re.split("[=<>~!]", spec)[0]] for spec in client] == client


def test_every_console_script_names_a_function():
    """``labqueue`` (the client) and ``labqueue-admin`` (the server's commands), as both packagings declare them."""
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    scripts = dict(line.split(" = ") for line in setup["options.entry_points"]["console_scripts"].strip().splitlines())
    standalone = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"labqueue", "labqueue-admin"} <= scripts.keys() and standalone["labqueue"] == scripts["labqueue"]
    for target in scripts.values():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), target


def test_the_rules_see_a_broken_import(tmp_path, monkeypatch):
    """The walk itself: an import inside a function, and a relative one, are both found."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "storage").mkdir()
    module = tmp_path / "storage" / "sneaky.py"
    module.write_text("def f():\n    import webapp.jobs\n    from .objects import ObjectStore\n")
    assert {"webapp.jobs", "storage.objects", "storage.objects.ObjectStore"} <= imported(module)
