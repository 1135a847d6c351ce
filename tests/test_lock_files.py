"""The hashed lock files in requirements/ (written by `make lock`, see requirements/lock.sh)
agree with pyproject.toml: every requirement of each lock's extra is pinned there, the pin
satisfies pyproject's specifier, every pin is exact and hashed, and each image's lock holds
exactly the versions dev.txt (what the tests run on) holds. Reads files only: no network.

When one of these fails after pyproject.toml changed, run `make lock` and commit the result."""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKS = ROOT / "requirements"

# lock file → the pyproject extra it locks ("" is the core alone: `trainbridge migrate` and
# the operator tool). Every image is built from one of these (Dockerfile, EXTRAS).
LOCKED_EXTRAS = {
    "core": "",
    "ingest": "ingest",
    "trainer": "trainer",
    "reporter": "reporter",
    "fake-labelbox": "fake-labelbox",
    "otel": "otel",  # added on top of a service's lock by an image built with TRACING=1
    "dev": "dev",
}
IMAGE_LOCKS = [name for name in LOCKED_EXTRAS if name != "dev"]
BUILD_LOCK = "build"
"""The build backend: requirements/build.in (= [build-system] requires), locked."""

# The images' interpreter: Debian bookworm's CPython 3.11 on x86_64 Linux.
IMAGE_ENVIRONMENT = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.2",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.11.2",
    "python_version": "3.11",
    "sys_platform": "linux",
    "extra": "",
}

_HASHES = re.compile(r"(?:--hash=sha256:[0-9a-f]{64}\s*)+")
_PROJECT = "trainbridge (pyproject.toml)"


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: str
    marker: Marker | None
    hashes: frozenset[str]
    via: frozenset[str]  # what requires it, as annotated: "trainbridge (pyproject.toml)", ...

    def applies_to_images(self) -> bool:
        return self.marker is None or self.marker.evaluate(IMAGE_ENVIRONMENT)


def _pin(lock: str, line: str, via: set[str]) -> Pin:
    raw, _, hashes = line.partition(" --hash=")
    assert _HASHES.fullmatch(f"--hash={hashes}"), f"{lock}.txt: not hashed: {line[:100]!r}"
    requirement = Requirement(raw)
    specifiers = list(requirement.specifier)
    assert requirement.url is None and len(specifiers) == 1, f"{lock}.txt: {raw!r}"
    assert specifiers[0].operator == "==", f"{lock}.txt: not an exact pin: {raw!r}"
    return Pin(canonicalize_name(requirement.name), specifiers[0].version, requirement.marker,
               frozenset(re.findall(r"sha256:[0-9a-f]{64}", hashes)), frozenset(via))


@functools.cache
def read_lock(lock: str) -> tuple[Pin, ...]:
    """The pins of requirements/<lock>.txt; any line that is not a comment or an exact, hashed
    pin (an option, a path, an unpinned name) fails."""
    entries: list[tuple[str, set[str]]] = []
    logical = ""
    for line in (LOCKS / f"{lock}.txt").read_text().splitlines():
        text = line.strip()
        if text.startswith("#"):
            if entries and not logical:  # the annotation of the pin above, not the header
                note = text.lstrip("#").strip()
                if note != "via":
                    entries[-1][1].add(note.removeprefix("via ").strip())
        elif text:
            logical += " " + text.removesuffix("\\").strip()
            if not text.endswith("\\"):
                entries.append((logical.strip(), set()))
                logical = ""
    assert not logical, f"{lock}.txt ends inside a continued line"
    return tuple(_pin(lock, line, via) for line, via in entries)


def pinned(name: str) -> dict[str, list[Pin]]:
    found: dict[str, list[Pin]] = {}
    for pin in read_lock(name):
        found.setdefault(pin.name, []).append(pin)
    return found


def requirements_of(extra: str) -> list[Requirement]:
    """The direct requirements of ``extra`` with the core, ``trainbridge[...]`` followed."""
    extras: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]
    found = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    pending, seen = ([extra] if extra else []), set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for raw in extras[current]:
            requirement = Requirement(raw)
            if canonicalize_name(requirement.name) == "trainbridge":
                pending.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def test_there_is_a_lock_file_for_each_deployable_extra_for_dev_and_for_the_build() -> None:
    assert {p.stem for p in LOCKS.glob("*.txt")} == {*LOCKED_EXTRAS, BUILD_LOCK}
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert all(extra == "" or extra in extras for extra in LOCKED_EXTRAS.values())


@pytest.mark.parametrize("lock", LOCKED_EXTRAS)
def test_every_line_of_a_lock_is_an_exact_pin_with_its_hashes(lock: str) -> None:
    pins = read_lock(lock)  # fails on any line that is not `name==version [; marker] --hash`
    assert pins
    assert all(pin.hashes for pin in pins)
    text = (LOCKS / f"{lock}.txt").read_text()
    assert "make lock" in text.split("\n", 3)[1], "the header says how to regenerate it"


@pytest.mark.parametrize("lock", LOCKED_EXTRAS)
def test_every_requirement_of_the_extra_is_pinned_within_its_pyproject_specifier(
        lock: str) -> None:
    pins = pinned(lock)
    for requirement in requirements_of(LOCKED_EXTRAS[lock]):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock}.txt lacks {requirement} (pyproject.toml): run `make lock`"
        assert any(pin.applies_to_images() for pin in pins[name]), (lock, name)
        for pin in pins[name]:
            assert requirement.specifier.contains(pin.version, prereleases=True), (
                f"{lock}.txt pins {name}=={pin.version}, pyproject.toml wants {requirement}: "
                "run `make lock`")


@pytest.mark.parametrize("lock", LOCKED_EXTRAS)
def test_a_lock_holds_no_direct_requirement_pyproject_no_longer_has(lock: str) -> None:
    direct = {canonicalize_name(r.name) for r in requirements_of(LOCKED_EXTRAS[lock])}
    locked_as_direct = {pin.name for pin in read_lock(lock) if _PROJECT in pin.via}
    assert locked_as_direct == direct, (
        f"{lock}.txt: pyproject.toml requires {sorted(direct - locked_as_direct)} directly, "
        f"no longer {sorted(locked_as_direct - direct)}: run `make lock`")


@pytest.mark.parametrize("lock", IMAGE_LOCKS)
def test_each_image_installs_exactly_the_versions_the_tests_run_on(lock: str) -> None:
    dev = {(pin.name, pin.version, str(pin.marker)): pin.hashes for pin in read_lock("dev")}
    for pin in read_lock(lock):
        key = (pin.name, pin.version, str(pin.marker))
        assert key in dev, f"{lock}.txt pins {key}, dev.txt does not: run `make lock`"
        assert pin.hashes == dev[key], key


def test_the_build_lock_pins_the_build_backend_pyproject_names_with_hashes() -> None:
    wanted = sorted(str(Requirement(r)) for r in PYPROJECT["build-system"]["requires"])
    listed = sorted(str(Requirement(line)) for line in (LOCKS / "build.in").read_text().splitlines()
                    if line.strip() and not line.startswith("#"))
    # editables: what hatchling asks for to build `make install`'s editable install.
    assert sorted(set(listed) - {"editables>=0.3"}) == wanted, (
        "requirements/build.in must list [build-system] requires")
    pins = {pin.name: pin for pin in read_lock(BUILD_LOCK)}
    for requirement in map(Requirement, listed):
        pin = pins[canonicalize_name(requirement.name)]
        assert pin.hashes
        assert requirement.specifier.contains(pin.version), "run `make lock`"


def test_no_lock_names_a_local_path_an_index_or_pytorch() -> None:
    for lock in [*LOCKED_EXTRAS, BUILD_LOCK]:
        text = (LOCKS / f"{lock}.txt").read_text()
        for forbidden in ("file:", "/opt/", "/tmp/", "/home/", "--index-url", "--find-links",
                          "--extra-index-url", "-e "):
            assert forbidden not in text, (lock, forbidden)
        assert not {"torch", "torchvision", "nvidia-cudnn-cu12"} & set(pinned(lock)), lock


def test_what_each_image_installs_keeps_labelbox_and_scikit_learn_where_they_belong() -> None:
    """The whole installed closure, not only the direct requirements."""
    for lock in ("core", "ingest", "fake-labelbox"):
        assert not {"labelbox", "scikit-learn", "numpy"} & set(pinned(lock)), lock
    assert "labelbox" not in pinned("trainer")
    assert "scikit-learn" not in pinned("reporter")
    assert "labelbox" in pinned("reporter") and "scikit-learn" in pinned("trainer")


def test_the_reporter_gets_the_labelbox_release_its_sdk_adapter_was_verified_against() -> None:
    (reporter,) = pinned("reporter")["labelbox"]
    (dev,) = pinned("dev")["labelbox"]
    assert reporter.version == dev.version == "7.17.0"
