"""The typed settings layer every package's config module builds on (pydantic-settings).

Each ``LABQUEUE_*`` variable is one field of one settings class, declared once with its type, default, bounds and a
one-line description (``setting``); the README's configuration table is printed from those fields
(``python -m storage.settingsdoc``). Reading is strict: a value that does not fit stops the process at start-up with
the variable's name and the form it expects, never a traceback and never a silent fallback to the default.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Self

import annotated_types
from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo, ValidatorFunctionWrapHandler, WrapValidator
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonDict
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

PREFIX = "LABQUEUE_"
YES_NO = "yes or no (1/0, true/false, yes/no, on/off)"


class SettingsError(SystemExit):
    """A setting with no value or one that does not fit. A SystemExit, so whichever entry point read the settings
    (a service's main, a command, gunicorn's config) stops with this message and a non-zero status, no traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("labqueue: bad configuration (see README.md, 'Configuration'):\n  " + "\n  ".join(problems))


def setting(
    default: Any = ...,
    description: str = "",
    *,
    unit: str | None = None,
    expected: str | None = None,
    shown: str | None = None,
    env: str | None = None,
    secret: bool = False,
    **constraints: Any,
) -> Any:
    """A field of a settings class, read from ``LABQUEUE_<FIELD NAME>`` unless ``env`` names the variable: ``unit``
    words the expected form ("a whole number of seconds ..."), ``expected`` replaces the derived wording, ``shown`` is
    the default as the README shows it where the value is computed; a ``secret`` is left out of the settings' repr."""
    extra: JsonDict = {key: value for key, value in (("unit", unit), ("expected", expected), ("shown", shown)) if value is not None}
    return Field(default, description=description, json_schema_extra=extra, validation_alias=env, repr=not secret, **constraints)


def at_most(ceiling: str) -> WrapValidator:
    """A field's validator: a default is cut to its maximum (``ceiling``, a field declared before it), and unset
    (None) means the maximum, so lowering a maximum never needs its default lowered too. The field's type is the
    number (``Annotated[int, at_most(...)]`` with a default of None): once read, it always holds one."""

    def clamp(value: Any, validate: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        top = info.data.get(ceiling)
        if top is None:  # the maximum was refused: its error is the one to report, and the settings are not made
            return value if value is None else validate(value)
        return top if value is None else min(validate(value), top)

    return WrapValidator(clamp)


def _split(raw: object) -> object:
    """A list setting is written as words separated by commas or spaces."""
    return tuple(raw.replace(",", " ").split()) if isinstance(raw, str) else raw


Words = typing.Annotated[tuple[str, ...], BeforeValidator(_split)]


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source over any mapping, so tests and tools can pass an environment of their own."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._mapping, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class Settings(BaseSettings):
    """Base of every package's settings. Constructed with values it is a frozen record like a dataclass (tests make
    them so); ``from_env`` reads the environment, where an empty value means unset."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True, env_ignore_empty=True, enable_decoding=False
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Self:
        try:
            return cls.model_validate(_MappingSource(cls, env)())
        except ValidationError as exc:
            raise SettingsError([describe_error(cls, error) for error in exc.errors()]) from None

    def replace(self, **changes: Any) -> Self:
        """A copy with some values changed, checked like the environment's."""
        return type(self).model_validate({**self.model_dump(), **changes})


def variable(name: str, field: FieldInfo) -> str:
    """The environment variable a field is read from."""
    return field.validation_alias if isinstance(field.validation_alias, str) else PREFIX + name.upper()


def _bounds(field: FieldInfo) -> tuple[str | None, str | None]:
    """The field's bounds in words ("at least 1", "more than 0", ...)."""
    low = high = None
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"at least {item.ge}"
        elif isinstance(item, annotated_types.Gt):
            low = f"more than {item.gt}"
        elif isinstance(item, annotated_types.Le):
            high = f"at most {item.le}"
        elif isinstance(item, annotated_types.Lt):
            high = f"less than {item.lt}"
    return low, high


def _plain(annotation: Any) -> Any:
    """``int | None`` is an int that may be unset; Annotated wrappers are looked through."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _plain(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kept = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _plain(kept[0]) if len(kept) == 1 else annotation
    return annotation


def expected_form(field: FieldInfo) -> str:
    """What a value must look like, in words, from the field's type, unit and bounds."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "expected" in extra:
        return str(extra["expected"])
    kind = _plain(field.annotation)
    if kind is bool:
        return YES_NO
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(str(choice) for choice in typing.get_args(kind))
    if kind in (int, float):
        unit = extra.get("unit")
        words = ("a whole number" if kind is int else "a number") + (f" of {unit}" if unit else "")
        low, high = _bounds(field)
        if low and high and low.startswith("at least") and high.startswith("at most"):
            return f"{words} between {low.removeprefix('at least ')} and {high.removeprefix('at most ')}"
        return ", ".join([words, *(bound for bound in (low, high) if bound)])
    if typing.get_origin(kind) is tuple:
        return "words separated by commas or spaces"
    return "a non-empty value"


def describe_error(cls: type[Settings], error: Any) -> str:
    """One line per problem: the variable, the expected form and the value it got. Only free-form strings hold
    secrets, and those fail only when missing, so no secret is ever printed."""
    key = str(error["loc"][0]) if error["loc"] else ""
    found = [(name, field) for name, field in cls.model_fields.items() if key in (name, field.validation_alias)]
    if not found:
        return f"{key}: {error['msg']}"
    name, field = found[0]
    if error["type"] == "missing":
        return f"{variable(name, field)} is not set ({field.description})"
    return f"{variable(name, field)}: expected {expected_form(field)}, got {error['input']!r}"
