"""One Dockerfile, one image per service: a builder stage installs the service's own extra
(build argument ``EXTRAS``) into a venv, from that extra's hashed lock file and then the wheel
alone, and a slim runtime stage runs it as a non-root user with ``ENTRYPOINT ["trainbridge"]``.
Checked without Docker: the files are parsed, and the imports of what each image runs are
followed to the packages it installs."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.files import (
    ROOT,
    built_by_us,
    in_build_context,
    load_compose,
    parse_dockerfile,
    services,
    stage_args,
)
from trainbridge.cli import build_parser

DOCKERFILE = parse_dockerfile()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]
CORE: list[str] = PYPROJECT["project"]["dependencies"]
COMPOSE_SERVICES = services(load_compose())

IMAGE_EXTRAS = {
    "migrate": "",
    "ingest": "ingest",
    "trainer": "trainer",
    "reporter": "reporter",
    "fake-labelbox": "fake-labelbox",
    "demo-client": "fake-labelbox",
    "operator": "",
}

# Commands each image runs besides its compose service's own (`docker compose run --rm
# operator <command>`).
EXTRA_COMMANDS = {"operator": ["audit", "parked", "redrive", "retry", "verify", "replay"]}
# Our own packages: the ones the wheel is built from.
INTERNAL_PACKAGES = set(PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
OPTIONAL_MODULES = {"eventlog.otel": "otel"}
"""Our modules that need an extra no image installs by default (TRACING=1 adds it), imported
only when a setting asks for them, behind a configuration error naming the extra."""


def build_args(service: dict[str, Any]) -> dict[str, str]:
    args = service["build"].get("args") or {}
    return {str(k): str(v) for k, v in args.items()}


def requirements_of(extra: str) -> list[Requirement]:
    """The direct requirements an image with ``extra`` installs (self-references expanded)."""
    found = [Requirement(r) for r in CORE]
    pending = [extra] if extra else []
    while pending:
        for raw in EXTRAS[pending.pop()]:
            requirement = Requirement(raw)
            if canonicalize_name(requirement.name) == "trainbridge":
                pending.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


@functools.cache
def distributions_of(extra: str) -> frozenset[str]:
    """Every distribution an image with ``extra`` installs: its requirements and, as installed
    in this environment, theirs."""
    seen: set[str] = set()
    pending = [(r.name, tuple(r.extras)) for r in requirements_of(extra)]
    while pending:
        name, extras = pending.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        seen.add(key)
        for raw in importlib.metadata.requires(name) or []:
            requirement = Requirement(raw)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in (*extras, "")):
                pending.append((requirement.name, tuple(requirement.extras)))
    return frozenset(seen)


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def top_level_modules(distributions: frozenset[str]) -> set[str]:
    modules = set()
    for module, owners in _packages_distributions().items():
        if any(canonicalize_name(o) in distributions for o in owners) and module.isidentifier():
            modules.add(module)
    return modules


# -- the Dockerfile --------------------------------------------------------------------------


def test_both_stages_start_from_the_pinned_slim_python() -> None:
    assert DOCKERFILE.global_args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert [(s.name, s.base) for s in DOCKERFILE.stages] == [
        ("builder", "${PYTHON_IMAGE}"), ("runtime", "${PYTHON_IMAGE}")]


LOCK = "requirements/${EXTRAS:-core}.txt"
BUILD_LOCK = "requirements/build.txt"
OTEL_LOCK = "requirements/otel.txt"


def test_the_builder_installs_the_extras_lock_then_the_wheel_alone_into_a_venv() -> None:
    builder = DOCKERFILE.stage("builder")
    assert stage_args(builder) == {"EXTRAS": "", "TRACING": ""}  # the core only, no otel
    runs = " ".join(" ".join(builder.all("RUN")).split())
    assert "python3 -m venv /opt/trainbridge" in runs  # `python3`: also where no `python` is
    assert (f"COPY {LOCK} /tmp/requirements.txt" in
            [f"{kw} {args}" for kw, args in builder.instructions])
    assert ("pip install --require-hashes --only-binary=:all: -r /tmp/requirements.txt"
            in runs)
    # The backend from its own hashed lock, in a venv the runtime never gets; no isolation,
    # so building the wheel fetches nothing.
    assert (f"COPY {BUILD_LOCK} /tmp/build-requirements.txt" in
            [f"{kw} {args}" for kw, args in builder.instructions])
    assert ("/opt/build/bin/python -m pip install --require-hashes --only-binary=:all: "
            "-r /tmp/build-requirements.txt" in runs)
    assert ("/opt/build/bin/python -m pip wheel --no-deps --no-build-isolation "
            "--wheel-dir /wheels ." in runs)
    assert "pip install --no-deps /wheels/trainbridge-*.whl" in runs


def test_the_dependencies_layer_comes_before_the_source_so_a_code_change_reuses_it() -> None:
    instructions = [f"{kw} {args}" for kw, args in DOCKERFILE.stage("builder").instructions]
    copies = [i for i, text in enumerate(instructions) if text.startswith("COPY ")]
    installs = [i for i, text in enumerate(instructions) if "--require-hashes" in text]
    assert [instructions[i].split()[1] for i in copies[:3]] == [BUILD_LOCK, LOCK, OTEL_LOCK]
    source = copies[3]
    assert copies[0] < installs[0] < copies[1] < installs[1] < copies[2] < installs[2] < source


def test_opentelemetry_is_installed_only_into_an_image_built_with_tracing() -> None:
    runs = [" ".join(run.split()) for run in DOCKERFILE.stage("builder").all("RUN")]
    (otel,) = [run for run in runs if "/tmp/otel-requirements.txt" in run]
    assert otel.startswith('if [ -n "${TRACING}" ]; then ')
    assert ("/opt/trainbridge/bin/python -m pip install --require-hashes --only-binary=:all: "
            "-r /tmp/otel-requirements.txt; fi") in otel
    assert in_build_context(OTEL_LOCK)


def test_every_image_compose_builds_has_its_lock_in_the_build_context() -> None:
    for extra in set(IMAGE_EXTRAS.values()):
        lock = f"requirements/{extra or 'core'}.txt"
        assert (ROOT / lock).is_file(), lock
        assert in_build_context(lock), lock


def test_the_builder_copies_exactly_the_lock_and_the_packages_the_wheel_is_built_from() -> None:
    build_lock, lock, otel_lock, *copied = [
        args.split()[0] for args in DOCKERFILE.stage("builder").all("COPY")]
    assert (build_lock, lock, otel_lock) == (BUILD_LOCK, LOCK, OTEL_LOCK)
    assert in_build_context(BUILD_LOCK)
    packages = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert sorted(copied) == sorted(["pyproject.toml", *packages])
    assert PYPROJECT["project"]["readme"] == "README.md"  # copied with pyproject.toml
    for source in (*packages, "pyproject.toml", "README.md"):
        assert (ROOT / source).exists(), source
        assert in_build_context(source), source


def test_the_runtime_takes_only_the_venv_from_the_builder() -> None:
    runtime = DOCKERFILE.stage("runtime")
    assert runtime.all("COPY") == ["--from=builder /opt/trainbridge /opt/trainbridge"]
    env = " ".join(runtime.all("ENV"))
    assert "PATH=/opt/trainbridge/bin:${PATH}" in env


def test_the_runtime_runs_trainbridge_as_a_non_root_user() -> None:
    runtime = DOCKERFILE.stage("runtime")
    user = runtime.all("USER")[-1]
    assert user.split(":")[0] not in {"root", "0"}
    assert user == "10001:10001"
    assert json.loads(runtime.all("ENTRYPOINT")[-1]) == ["trainbridge"]
    # the artifacts volume's mount point exists, owned by that user, so an empty named
    # volume mounted there starts out writable
    runs = " ".join(runtime.all("RUN"))
    assert re.search(r"chown 10001:10001 .*/var/lib/trainbridge/artifacts", runs)
    for name in ("trainer", "reporter"):
        assert "artifacts:/var/lib/trainbridge/artifacts" in COMPOSE_SERVICES[name]["volumes"]


def test_the_build_context_keeps_secrets_the_venv_and_the_tests_out() -> None:
    for path in (".env", ".venv/bin/python", ".git/HEAD", "tests/deploy/test_compose.py",
                 "artifacts/model_run-x/attempt-1/model.pkl", "services/__pycache__/a.pyc",
                 "services/ingest/__pycache__/app.cpython-311.pyc", ".mypy_cache/x"):
        assert not in_build_context(path), path
    for path in ("pyproject.toml", "README.md", "services/ingest/app.py",
                 "migrations/versions/0001_event_log.py", "trainbridge/cli.py"):
        assert in_build_context(path), path


# -- one image per service, each with its own extra ------------------------------------------


def test_each_service_image_is_built_with_its_own_extra() -> None:
    built = {name: s for name, s in COMPOSE_SERVICES.items() if built_by_us(s)}
    base = f"${{PYTHON_IMAGE:-{DOCKERFILE.global_args['PYTHON_IMAGE']}}}"
    assert {name: build_args(s) for name, s in built.items()} == {
        name: {"EXTRAS": extra, "PYTHON_IMAGE": base} for name, extra in IMAGE_EXTRAS.items()}
    for name, service in built.items():
        assert service["build"]["context"] == "."
        assert service["build"]["target"] == "runtime"
        extra = IMAGE_EXTRAS[name]
        assert extra == "" or extra in EXTRAS, extra
        if "entrypoint" not in service and extra:
            assert service["command"][0] == extra  # the extra is named after its command


def test_the_ingest_image_contains_neither_labelbox_nor_scikit_learn() -> None:
    def names(extra: str) -> set[str]:
        return {canonicalize_name(r.name) for r in requirements_of(extra)}

    for extra in ("", "ingest", "fake-labelbox"):
        assert not names(extra) & {"labelbox", "scikit-learn", "numpy", "pillow"}, extra
    assert "labelbox" not in names("trainer")
    assert "scikit-learn" not in names("reporter")
    assert "labelbox" in names("reporter") and "scikit-learn" in names("trainer")


def test_nothing_any_image_installs_brings_labelbox_or_scikit_learn_in_by_the_back_door() -> None:
    for extra in ("", "ingest", "fake-labelbox"):
        assert not distributions_of(extra) & {"labelbox", "scikit-learn"}, extra
    assert "labelbox" not in distributions_of("trainer")
    assert "scikit-learn" not in distributions_of("reporter")


def test_every_package_an_images_commands_import_is_installed_in_that_image() -> None:
    """Follows the imports (also those inside functions, which run when the command does)
    from what each image runs — its `trainbridge` subcommands, the trainer's pipeline entry
    points, the demo's client — through this repository's modules, and checks that every
    third-party package reached is among the image's distributions."""
    for extra, entries in image_entry_modules().items():
        available = top_level_modules(distributions_of(extra))
        needed = third_party_imports(entries)
        missing = {module: by for module, by in needed.items() if module not in available}
        assert not missing, f"image with extra {extra!r} lacks {missing} (package: imported by)"


def test_an_optional_module_imports_only_what_its_extra_and_the_core_install() -> None:
    for module, extra in OPTIONAL_MODULES.items():
        available = top_level_modules(distributions_of(extra))
        needed = third_party_imports([module])
        assert "opentelemetry" in needed
        assert set(needed) <= available, (module, set(needed) - available)


def test_the_import_walk_sees_lazy_imports() -> None:
    pipelines = third_party_imports(["services.trainer.pipelines.text_classification"])
    assert "sklearn" in pipelines  # imported inside a method
    assert "uvicorn" in third_party_imports(["fake_labelbox.runner"])
    assert "labelbox" in third_party_imports(["services.reporter.sdk_adapter"])


def test_the_import_walk_leaves_out_imports_whose_absence_is_handled() -> None:
    # the artifact store imports fsspec (the `artifacts` extra) only for object storage, and
    # says what to install when it is missing (tests/unit/test_artifact_store.py)
    assert "fsspec" not in third_party_imports(["eventlog.artifacts"])
    assert "asyncpg" in third_party_imports(["eventlog.postgres.pool"])


# -- the import walk -------------------------------------------------------------------------


def image_entry_modules() -> dict[str, list[str]]:
    """``{extra: modules}``: what each image runs, as modules to start the import walk at."""
    parser = build_parser()
    commands: dict[str, list[str]] = {}
    for service in COMPOSE_SERVICES.values():
        if built_by_us(service):
            commands.setdefault(build_args(service)["EXTRAS"], []).append(
                " ".join(service.get("entrypoint", [])) or service["command"][0])
    entries: dict[str, list[str]] = {}
    for extra, runs in commands.items():
        modules = ["trainbridge.cli"]  # its module-level imports; each command's below
        for run in [*runs, *EXTRA_COMMANDS.get(extra, [])]:
            if run.startswith("python -m "):
                modules.append(run.removeprefix("python -m "))
                continue
            command = parser.parse_args([run]).run.__module__  # trainbridge.commands.<name>
            source = module_file(command)
            assert source is not None, command
            modules.extend(imported_names(ast.parse(source.read_text()), command))
            if run == "trainer":
                group = PYPROJECT["project"]["entry-points"]["trainbridge.pipelines"]
                modules.extend(target.split(":")[0] for target in group.values())
            if run == "migrate":
                versions = ROOT / "migrations" / "versions"
                modules.extend(f"migrations.versions.{p.stem}" for p in versions.glob("*.py"))
                modules.append("migrations.env")
        entries[extra] = modules
    return entries


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def optional_imports(tree: ast.AST) -> set[ast.AST]:
    """The imports inside ``try: … except ImportError:`` (or ``ModuleNotFoundError``): the
    code says what to install when they fail (eventlog.artifacts and fsspec)."""
    guarded: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(handler.type, ast.Name)
                and handler.type.id in ("ImportError", "ModuleNotFoundError")
                for handler in node.handlers):
            guarded.update(n for statement in node.body for n in ast.walk(statement)
                           if isinstance(n, ast.Import | ast.ImportFrom))
    return guarded


def imported_names(tree: ast.AST, module: str, *, top_level_only: bool = False) -> set[str]:
    """Modules ``tree`` imports (``from a import b`` gives ``a`` and ``a.b``, which may be an
    attribute), but for optional ones; with ``top_level_only``, not those inside functions."""
    found: set[str] = set()
    optional = optional_imports(tree)
    nodes = ast.iter_child_nodes(tree) if top_level_only else ast.walk(tree)
    for node in (n for n in nodes if n not in optional):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.rsplit(".", node.level)[0]
                base = f"{package}.{base}".rstrip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def is_cli(module: str) -> bool:
    """The CLI and its command modules, each of which imports its service inside its
    ``run``: followed at module level only, except for the commands an image runs."""
    return module == "trainbridge.cli" or module.startswith("trainbridge.commands")


def third_party_imports(entries: list[str]) -> dict[str, str]:
    """``{top-level third-party module: a module of ours importing it}`` reachable from
    ``entries``. The CLI is followed only at module level: it imports each service inside
    that service's command (whose imports ``image_entry_modules`` lists)."""
    external: dict[str, str] = {}
    seen: set[str] = set()
    pending = list(entries)
    while pending:
        module = pending.pop()
        if module in seen or (module in OPTIONAL_MODULES and module not in entries):
            continue
        seen.add(module)
        path = module_file(module)
        if path is None:
            continue  # an attribute (`from a import function`), not a module
        parts = module.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        tree = ast.parse(path.read_text())
        for name in imported_names(tree, module, top_level_only=is_cli(module)):
            top = name.split(".")[0]
            if top in INTERNAL_PACKAGES:
                pending.append(name)
            elif top not in sys.stdlib_module_names and top != "__future__":
                external.setdefault(top, module)
    return external
