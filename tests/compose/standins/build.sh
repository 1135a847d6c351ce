#!/usr/bin/env bash
# Builds local stand-ins for the images docker-compose.yml and the tests pin but that cannot be
# pulled here (no Docker Hub): a Debian base from debootstrap, then a Python base, PostgreSQL
# and RabbitMQ from Debian's packages (tests/compose/README.md lists every difference from
# the official images). An image that already exists locally, or that `docker pull` can
# fetch, is left alone: the stand-ins never shadow a real image.
#
#   tests/compose/standins/build.sh                   # prints the Python base to build from
#   tests/compose/standins/build.sh --infrastructure  # PostgreSQL and RabbitMQ only
#
# Environment: DOCKER (default /usr/bin/docker, Debian's CLI), DEBIAN_MIRROR,
# TRAINBRIDGE_STANDINS_PULL=0 to skip trying `docker pull` (each try gives up after 30 s).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
docker="${DOCKER:-/usr/bin/docker}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
base=trainbridge-standin/debian:bookworm
python_standin=trainbridge-standin/python:3.11
export DOCKER_BUILDKIT=0

log() { echo "standins: $*" >&2; }
have() { "$docker" image inspect "$1" >/dev/null 2>&1; }
# A stand-in built earlier is rebuilt (from the layer cache: seconds), so edits here apply.
real() { have "$1" && [ -z "$("$docker" image inspect -f '{{index .Config.Labels "io.trainbridge.standin"}}' "$1")" ]; }
# At most 30 s: a network that drops packets instead of refusing them must not hang CI.
pullable() {
  [ "${TRAINBRIDGE_STANDINS_PULL:-1}" = 1 ] && timeout 30 "$docker" pull -q "$1" >/dev/null 2>&1
}

build_base() {
  have "$base" && return 0
  command -v debootstrap >/dev/null || "$here/../engine.sh" --with debootstrap:debootstrap
  log "debootstrap bookworm (minbase) -> $base"
  local root
  root="$(mktemp -d)"
  trap 'rm -rf "${root:-}"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | "$docker" import - "$base" >/dev/null
  rm -rf "$root"
}

# build TAG DIR [extra file to put in the context]
build() {
  local tag="$1" dir="$2" context
  context="$(mktemp -d)"
  trap 'rm -rf "${context:-}"' EXIT
  cp -r "$here/$dir/." "$context/"
  [ $# -ge 3 ] && cp "$3" "$context/host-ca-bundle.crt"
  log "building $tag from $dir/"
  "$docker" build -q --build-arg "BASE_IMAGE=$base" -t "$tag" "$context" >/dev/null
  rm -rf "$context"
}

host_ca_bundle() {
  local bundle="${PIP_CERT:-}"
  [ -n "$bundle" ] || bundle="$(python3 -m pip config get global.cert 2>/dev/null || true)"
  [ -n "$bundle" ] || bundle=/etc/ssl/certs/ca-certificates.crt
  echo "$bundle"
}

for image in postgres:15.8-alpine rabbitmq:3.13-management-alpine; do
  if real "$image" || pullable "$image"; then continue; fi
  build_base
  build "$image" "${image%%:*}"
done

[ "${1:-}" != --infrastructure ] || exit 0

# The project's images build FROM ${PYTHON_IMAGE}: the real python:3.11-slim when it can be
# had, else the stand-in (the caller puts PYTHON_IMAGE=<what this prints> into .env).
if real python:3.11-slim || pullable python:3.11-slim; then
  echo python:3.11-slim
else
  build_base
  build "$python_standin" python "$(host_ca_bundle)"
  echo "$python_standin"
fi
