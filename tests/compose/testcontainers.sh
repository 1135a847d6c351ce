#!/usr/bin/env bash
# The testcontainers path, for real: the integration suite with TRAINBRIDGE_TEST_DATABASE_URL and
# TRAINBRIDGE_TEST_AMQP_URL unset, so tests/services.py has testcontainers start (and stop)
# postgres:15.8-alpine and rabbitmq:3.13-management-alpine itself. CI runs it (.ci/run); by hand:
#
#   tests/compose/testcontainers.sh [pytest arguments]    # tests/integration unless paths given
#
# Where those images cannot be pulled, the stand-ins of tests/compose/standins carry their tags.
# Ryuk (testcontainers' reaper, image testcontainers/ryuk) cannot be pulled here either, so it is
# disabled (TESTCONTAINERS_RYUK_DISABLED=true); this script removes the containers its own run
# left behind instead (labelled with TRAINBRIDGE_TEST_CONTAINER_RUN by tests/services.py), on
# every exit, and nothing else on the engine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export DOCKER="${DOCKER:-/usr/bin/docker}"
export DOCKER_BUILDKIT=0

export TRAINBRIDGE_TEST_CONTAINER_RUN="testcontainers-sh-$$-$RANDOM"
leftovers() { "$DOCKER" ps -aq --filter "label=io.trainbridge.test-run=$TRAINBRIDGE_TEST_CONTAINER_RUN"; }
cleanup() {
  local ids
  ids="$(leftovers)"
  [ -z "$ids" ] || "$DOCKER" rm -f -v $ids >/dev/null
}

"$here/engine.sh"
"$here/standins/build.sh" --infrastructure
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

cd "$repo"
paths=0
for arg in "$@"; do case "$arg" in tests*|./tests*|/*) paths=1 ;; esac; done
[ "$paths" = 1 ] || set -- "$@" tests/integration
env -u TRAINBRIDGE_TEST_DATABASE_URL -u TRAINBRIDGE_TEST_AMQP_URL \
  TESTCONTAINERS_RYUK_DISABLED=true .venv/bin/pytest -p no:cacheprovider "$@"
