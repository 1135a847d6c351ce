"""How a setting is declared and read. Each environment variable is declared once, as a
``Setting``: its name, default, the values it accepts, whether it is a secret and one line
saying what it does. ``Setting.read`` is the one place that turns the environment into a
value; the settings objects (eventlog/settings.py, services/*/settings.py) are built from
these declarations at the entry point, and docs/configuration.md is generated from them
(``python -m trainbridge.config_docs``).

Any variable may instead be given as ``<NAME>_FILE`` naming a file that holds the value
(Docker/Kubernetes secrets)."""

from __future__ import annotations

import dataclasses
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from eventlog.redaction import redact

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def read_setting(environ: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """``name`` from the environment, or the content of the file named by ``name_FILE``."""
    direct = environ.get(name)
    file_name = environ.get(f"{name}_FILE")
    if direct is not None and file_name is not None:
        raise SettingsError(f"set {name} or {name}_FILE, not both")
    if file_name is not None:
        try:
            return Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SettingsError(f"{name}_FILE: cannot read {file_name!r}: {exc.strerror}") from exc
    return direct if direct is not None else default


class Declared(Protocol):
    """A declared setting (a ``Setting`` or a ``Family``), as the documentation shows it."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def secret(self) -> bool: ...
    @property
    def required(self) -> bool: ...
    @property
    def shown_default(self) -> str: ...
    @property
    def accepted(self) -> str: ...
    def read(self, environ: Mapping[str, str]) -> object: ...


@dataclass(frozen=True, kw_only=True)
class Setting(ABC, Generic[T]):
    """One environment variable. ``read`` gives its value, typed, from the variable or its
    ``_FILE``, or refuses it with a ``SettingsError`` naming it; each subclass is one kind
    of value."""

    name: str
    description: str
    """One line for docs/configuration.md (Markdown)."""
    secret: bool = False
    """Its value is masked wherever it could be printed (see eventlog.redaction)."""

    required: ClassVar[bool] = False
    blank_is_unset: ClassVar[bool] = True
    """An empty value reads as if the variable were not set."""

    def read(self, environ: Mapping[str, str]) -> T:
        raw = read_setting(environ, self.name)
        if raw is None or (raw == "" and self.blank_is_unset):
            return self.unset()
        return self.parse(raw)

    @abstractmethod
    def parse(self, raw: str) -> T: ...

    @abstractmethod
    def unset(self) -> T:
        """The value when the variable is not set (or raise, for a required one)."""

    @property
    def shown_default(self) -> str:
        return f"`{self.unset()}`"

    @property
    def accepted(self) -> str:
        return "text"


@dataclass(frozen=True, kw_only=True)
class Text(Setting[str]):
    default: str

    def parse(self, raw: str) -> str:
        return raw

    def unset(self) -> str:
        return self.default


@dataclass(frozen=True, kw_only=True)
class OptionalText(Setting[str | None]):
    """Not set: ``None`` (what it enables is off)."""

    shown_default = "—"

    def parse(self, raw: str) -> str | None:
        return raw

    def unset(self) -> str | None:
        return None


@dataclass(frozen=True, kw_only=True)
class RequiredText(Setting[str]):
    why: str
    """Ends the error message when the variable is missing."""

    required = True
    shown_default = "— (required)"

    def parse(self, raw: str) -> str:
        return raw

    def unset(self) -> str:
        raise missing(self.name, self.why)


@dataclass(frozen=True, kw_only=True)
class RequiredList(Setting[tuple[str, ...]]):
    """Comma-separated values, blanks around them ignored; at least one."""

    why: str

    required = True
    shown_default = "— (required)"
    accepted = "comma-separated list"

    def parse(self, raw: str) -> tuple[str, ...]:
        values = tuple(v.strip() for v in raw.split(",") if v.strip())
        if not values:
            raise missing(self.name, self.why)
        return values

    def unset(self) -> tuple[str, ...]:
        raise missing(self.name, self.why)


def missing(name: str, why: str) -> SettingsError:
    return SettingsError(f"{name} (or {name}_FILE) is required: {why}")


@dataclass(frozen=True, kw_only=True)
class Choice(Setting[str]):
    """One of ``choices``, in any case (read upper-cased)."""

    default: str
    choices: tuple[str, ...]

    def parse(self, raw: str) -> str:
        if raw.upper() not in self.choices:
            raise SettingsError(f"{self.name}={raw!r}: expected one of {', '.join(self.choices)}")
        return raw.upper()

    def unset(self) -> str:
        return self.default

    @property
    def accepted(self) -> str:
        return ", ".join(f"`{choice}`" for choice in self.choices)


@dataclass(frozen=True, kw_only=True)
class Url(Setting[str]):
    default: str
    schemes: tuple[str, ...]

    def parse(self, raw: str) -> str:
        return check_url(self.name, raw, self.schemes)

    def unset(self) -> str:
        return self.default

    @property
    def accepted(self) -> str:
        return " or ".join(f"`{scheme}://`" for scheme in self.schemes) + " URL"


@dataclass(frozen=True, kw_only=True)
class OptionalUrl(Setting[str | None]):
    """Not set: ``None`` (what it enables is off); set: a URL of one of ``schemes``."""

    schemes: tuple[str, ...]
    shown_default = "—"

    def parse(self, raw: str) -> str | None:
        return check_url(self.name, raw, self.schemes)

    def unset(self) -> str | None:
        return None

    @property
    def accepted(self) -> str:
        return " or ".join(f"`{scheme}://`" for scheme in self.schemes) + " URL"


def check_url(name: str, url: str, schemes: tuple[str, ...]) -> str:
    """``url`` if it is a URL of one of ``schemes`` with a numeric port (when it has one);
    otherwise a ``SettingsError`` naming the setting and showing the value redacted."""
    shown = redact(url)
    expected = " or ".join(f"{scheme}://" for scheme in schemes)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SettingsError(f"{name}={shown}: not a valid URL ({exc})") from None
    if parts.scheme not in schemes or "://" not in url:
        raise SettingsError(f"{name}={shown}: expected a {expected} URL")
    if port == 0:
        raise SettingsError(f"{name}={shown}: the port must be between 1 and 65535")
    return url


@dataclass(frozen=True, kw_only=True)
class Location(Setting[str]):
    """An artifact store's URL (eventlog.artifacts): a plain path (``default`` too) becomes a
    ``file://`` URL, resolved against the working directory when read; any other URL must
    name an fsspec filesystem that is installed."""

    default: str

    accepted = "fsspec URL or path"

    def parse(self, raw: str) -> str:
        if "://" not in raw:
            return Path(raw).resolve().as_uri()
        from eventlog.artifacts import ArtifactStoreError, check_store

        try:
            check_store(raw)
        except ArtifactStoreError as exc:
            raise SettingsError(f"{self.name}={redact(raw)}: {exc}") from None
        return raw

    def unset(self) -> str:
        return self.parse(self.default)

    @property
    def shown_default(self) -> str:
        return f"`./{self.default}` (as a `file://` URL)"


def parse_number(name: str, raw: str, minimum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class Number(Setting[float]):
    default: float
    minimum: float

    blank_is_unset = False

    def parse(self, raw: str) -> float:
        return parse_number(self.name, raw, self.minimum)

    def unset(self) -> float:
        return self.default

    @property
    def shown_default(self) -> str:
        return f"`{self.default:g}`"

    @property
    def accepted(self) -> str:
        return f"number ≥ {self.minimum:g}"


@dataclass(frozen=True, kw_only=True)
class Integer(Setting[int]):
    default: int
    minimum: int
    maximum: int | None = None

    blank_is_unset = False

    def parse(self, raw: str) -> int:
        value = parse_number(self.name, raw, self.minimum)
        if not value.is_integer():
            raise SettingsError(f"{self.name} must be a whole number, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise SettingsError(f"{self.name} must be at most {self.maximum}, got {raw!r}")
        return int(value)

    def unset(self) -> int:
        return self.default

    @property
    def accepted(self) -> str:
        if self.maximum is not None:
            return f"whole number from {self.minimum} to {self.maximum}"
        return f"whole number ≥ {self.minimum}"


def usable_cpus(cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """The CPUs this process may use: its affinity mask (a container's cpuset), else the
    machine's count, lowered to a cgroup v2 CPU quota (compose's ``cpus:``, a Kubernetes
    limit) rounded up, where one is set."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks on this platform (macOS)
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cpu_max)
    return max(1, min(cpus, quota)) if quota is not None else cpus


def cgroup_cpu_quota(cpu_max: str) -> int | None:
    """The CPUs a cgroup v2 ``cpu.max`` file allows (``"150000 100000"`` → 2), ``None``
    when there is no such file or no quota (``"max 100000"``)."""
    try:
        with open(cpu_max, encoding="ascii") as file:
            quota, period = file.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


@dataclass(frozen=True, kw_only=True)
class PerCpu(Setting[int]):
    """How many things a process does at once: a whole number ≥ 1; not set, the CPUs it
    may run on (:func:`usable_cpus`, read when the setting is read)."""

    blank_is_unset = False
    accepted = "whole number ≥ 1"
    shown_default = "the CPUs it may use (`len(os.sched_getaffinity(0))`)"

    def parse(self, raw: str) -> int:
        value = parse_number(self.name, raw, 1)
        if not value.is_integer():
            raise SettingsError(f"{self.name} must be a whole number, got {value}")
        return int(value)

    def unset(self) -> int:
        return usable_cpus()


@dataclass(frozen=True, kw_only=True)
class Family(Generic[T]):
    """Settings sharing a prefix, one per key: ``each`` is named ``<PREFIX><KEY>`` (e.g.
    ``TRAINBRIDGE_DEADLINE_SECONDS_<MODEL_TYPE>``) and every variable starting with the
    prefix is read as it says, keyed by the rest of its name in lower case."""

    each: Setting[T]
    shown_default: str
    """What applies to a key whose variable is not set."""

    required: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return self.each.name

    @property
    def prefix(self) -> str:
        return self.name.partition("<")[0]

    @property
    def description(self) -> str:
        return self.each.description

    @property
    def secret(self) -> bool:
        return self.each.secret

    @property
    def accepted(self) -> str:
        return self.each.accepted

    def read(self, environ: Mapping[str, str]) -> dict[str, T]:
        names = sorted({n.removesuffix("_FILE") for n in environ if n.startswith(self.prefix)})
        return {
            name[len(self.prefix):].lower(): dataclasses.replace(self.each, name=name).read(environ)
            for name in names if len(name) > len(self.prefix) and name.startswith(self.prefix)
        }
