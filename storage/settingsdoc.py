"""``python -m storage.settingsdoc``: print the README's configuration table from the settings classes.

The table is written from the declarations and never by hand (tests/unit/test_settings_doc.py compares README.md with
this output). The packages' config modules are named here and imported by name, so storage itself still imports
nothing of the packages above it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

from pydantic.fields import FieldInfo

from storage.settings import Settings, expected_form, variable

# In the order the README lists them: storage first, then the packages that build on it.
MODULES = (
    "storage.config",
    "storage.limits",
    "storage.retention",
    "storage.logsetup",
    "producer.config",
    "consumer.config",
    "consumer.runtimes",
    "webapp.config",
)
HEADER = "| variable | default | accepted | meaning |\n|---|---|---|---|"


def declared_settings() -> Iterator[tuple[str, FieldInfo]]:
    """Every setting once, in the class that declares it (a subclass's inherited fields are its base's)."""
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        classes = [value for value in vars(module).values() if inspect.isclass(value) and issubclass(value, Settings)]
        for cls in classes:
            if cls.__module__ != module_name:
                continue
            own = set(vars(cls).get("__annotations__", {})) or set(cls.model_fields)  # create_model classes have none
            for name, field in cls.model_fields.items():
                if name in own and not any(name in base.model_fields for base in cls.__bases__ if issubclass(base, Settings)):
                    yield variable(name, field), field


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    if value is None:
        return "unset"
    if isinstance(value, tuple):
        return f"`{','.join(value)}`" if value else "unset"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def default_text(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "shown" in extra:
        return str(extra["shown"])
    return "required" if field.is_required() else _shown(field.default)


def table() -> str:
    rows = [
        f"| `{name}` | {default_text(field)} | {expected_form(field)} | {field.description} |".replace("\n", " ")
        for name, field in declared_settings()
    ]
    return "\n".join([HEADER, *rows]) + "\n"


if __name__ == "__main__":
    print(table(), end="")
