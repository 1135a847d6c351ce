#!/usr/bin/env bash
# Regenerates the hashed lock files in requirements/ from pyproject.toml (`make lock`):
#
#   dev.txt            the `dev` extra: what `make install` puts in .venv (tests, linters)
#   core.txt           no extra: `trainbridge migrate` and the operator tool (Dockerfile default)
#   ingest.txt, trainer.txt, reporter.txt, fake-labelbox.txt    one per image (EXTRAS=...)
#   otel.txt           the `otel` extra, added to an image built with TRACING=1
#   build.txt          the build backend (requirements/build.in = [build-system] requires)
#
# Each file pins every package, transitively, with the sha256 of every wheel and sdist of the
# pinned release, for every platform (a universal resolution for Python >= 3.11), so
# `pip install --require-hashes -r requirements/X.txt` works on a developer's machine and in
# the images alike. dev.txt is resolved first and constrains the others: an image runs exactly
# the versions the tests ran.
#
# Existing pins are kept unless pyproject.toml needs otherwise; to move them:
#
#   requirements/lock.sh --upgrade                        # everything to the newest allowed
#   requirements/lock.sh --upgrade-package sqlalchemy     # one package (repeatable)
#
# Resolution uses the public PyPI index only: the machine's pip configuration (find-links,
# extra indexes, constraint files) and any UV_* index settings are ignored, so the files never
# name a local path. Needs network access to pypi.org (uv uses its own TLS roots: behind a
# TLS-inspecting proxy set SSL_CERT_FILE to the proxy's CA bundle, or pass --native-tls).
# Uses `uv` at $UV, else `uv` on PATH if it is UV_VERSION, else installs UV_VERSION into a
# throwaway venv.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
INDEX_URL=https://pypi.org/simple

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

uv="${UV:-}"
if [[ -z "$uv" ]]; then
  if command -v uv >/dev/null && [[ "$(uv --version)" == "uv $UV_VERSION"* ]]; then
    uv=uv
  else
    echo "lock: installing uv $UV_VERSION into a temporary venv" >&2
    python3 -m venv "$tmp/uv"
    "$tmp/uv/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
    uv="$tmp/uv/bin/uv"
  fi
fi

# Settings that would add indexes, constraints or overrides to the resolution.
unset UV_INDEX UV_INDEX_URL UV_DEFAULT_INDEX UV_EXTRA_INDEX_URL UV_FIND_LINKS UV_NO_INDEX \
      UV_CONSTRAINT UV_BUILD_CONSTRAINT UV_OVERRIDE UV_EXCLUDE_NEWER UV_PRERELEASE \
      UV_RESOLUTION UV_INDEX_STRATEGY UV_NO_BINARY UV_ONLY_BINARY UV_TORCH_BACKEND \
      UV_CUSTOM_COMPILE_COMMAND

compile() {  # compile OUTPUT [uv pip compile options...] (from pyproject.toml unless INPUT is set)
  local output="$1"; shift
  echo "lock: $output" >&2
  "$uv" pip compile "${INPUT:-pyproject.toml}" \
    --no-config \
    --index-url "$INDEX_URL" \
    --universal \
    --python-version 3.11 \
    --generate-hashes \
    --custom-compile-command "make lock  (requirements/lock.sh)" \
    --quiet \
    --output-file "$output" \
    "$@" "${LOCK_ARGS[@]}"
}

LOCK_ARGS=("$@")

# dev.txt may hold sdists (pygeotile, from labelbox[data]; pip builds them in .venv). The images
# install wheels only (--only-binary in the Dockerfile: no compiler, and no unhashed build
# dependencies), so their files are resolved from wheels only.
compile requirements/dev.txt --extra dev
for extra in ingest trainer reporter fake-labelbox otel; do
  compile "requirements/$extra.txt" --extra "$extra" --constraint requirements/dev.txt \
    --only-binary :all:
done
compile requirements/core.txt --constraint requirements/dev.txt --only-binary :all:
# The build backend (hatchling), which the Dockerfile and `make install` use without build
# isolation, so building the project's own wheel fetches nothing unhashed either.
INPUT=requirements/build.in compile requirements/build.txt --constraint requirements/dev.txt \
  --only-binary :all:
