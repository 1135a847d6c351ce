"""Reading the deployment files the way Docker and Compose do, closely enough for the tests:
Compose's variable interpolation, ``.env`` files, Dockerfile stages, ``.dockerignore``."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# $$ | ${NAME} | ${NAME:-default} ${NAME-default} ${NAME:?err} ${NAME?err} ${NAME:+alt} | $NAME
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariableError(ValueError):
    """A ``${NAME:?message}`` whose variable is unset or empty: Compose refuses to start."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def load_compose() -> dict[str, Any]:
    """docker-compose.yml as parsed YAML (anchors and merge keys resolved), before
    interpolation."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{path.name}: not NAME=value: {line!r}"
        values[name.strip()] = value.strip()
    return values


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def referenced_variables(node: Any) -> set[str]:
    """Every variable a value interpolates (``$$`` is a literal dollar)."""
    found = set()
    for text in _strings(node):
        for match in _VARIABLE.finditer(text):
            if not match.group("escaped"):
                found.add(match.group("braced") or match.group("named"))
    return found


def interpolate(node: Any, environ: Mapping[str, str]) -> Any:
    """``node`` with Compose's interpolation applied to every string value."""
    if isinstance(node, str):
        return _VARIABLE.sub(lambda m: _substitute(m, environ), node)
    if isinstance(node, Mapping):
        return {key: interpolate(value, environ) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, environ) for item in node]
    return node


def _substitute(match: re.Match[str], environ: Mapping[str, str]) -> str:
    if match.group("escaped"):
        return "$"
    name = match.group("braced") or match.group("named")
    op, arg = match.group("op"), match.group("arg") or ""
    value = environ.get(name)
    present = value is not None and (value != "" or not (op or "").startswith(":"))
    if op in (":-", "-"):
        return value if present and value is not None else arg
    if op in (":?", "?"):
        if not present or value is None:
            raise MissingVariableError(name, arg)
        return value
    if op in (":+", "+"):
        return arg if present else ""
    return value or ""


def services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.partition("=")[::2] for item in raw)
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def built_by_us(service: Mapping[str, Any]) -> bool:
    """Built from this repository's Dockerfile (else a third-party image such as postgres)."""
    return "build" in service


def container_ports(service: Mapping[str, Any]) -> list[int]:
    """The container side of each published port (``[HOST_IP:]HOST:CONTAINER``)."""
    return [int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in service.get("ports", [])]


# -- Dockerfile ------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


def _instructions(text: str) -> Iterator[tuple[str, str]]:
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, args = logical.partition(" ")
        yield keyword.upper(), args.strip()
        logical = ""


def _arg(args: str) -> tuple[str, str]:
    name, _, default = args.partition("=")
    return name.strip(), default.strip().strip('"')


def parse_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, args in _instructions(path.read_text()):
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, parts[0]))
        elif not stages:
            assert keyword == "ARG", f"only ARG may come before the first FROM, not {keyword}"
            name, default = _arg(args)
            global_args[name] = default
        else:
            stages[-1].instructions.append((keyword, args))
    return Dockerfile(global_args, stages)


def stage_args(stage: Stage) -> dict[str, str]:
    return dict(_arg(a) for a in stage.all("ARG"))


# -- .dockerignore ---------------------------------------------------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    body = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            body += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            body += ".*"
            i += 2
        elif pattern[i] == "*":
            body += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            body += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            body += pattern[i : end + 1]
            i = end + 1
        else:
            body += re.escape(pattern[i])
            i += 1
    return re.compile(f"^{body}(?:/.*)?$")  # a matched directory takes its contents along


def in_build_context(relative_path: str, path: Path = DOCKERIGNORE) -> bool:
    """Whether Docker sends ``relative_path`` to the builder: the last matching rule wins."""
    included = True
    for line in path.read_text().splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        rule = rule.lstrip("!").strip("/")
        if _pattern(rule).match(relative_path):
            included = negated
    return included
