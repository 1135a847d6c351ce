#!/usr/bin/env bash
# The compose test: the README's own Docker commands, run under a real Docker engine, on a copy
# of this working tree. CI runs it on every submission (.ci/run); by hand:
#
#   tests/compose/run.sh
#
# It starts a Docker engine if none runs (installing Debian's docker.io, docker-compose and
# debootstrap if needed), builds local stand-ins for images that cannot be pulled
# (tests/compose/standins), then: `cp .env.example .env`, `docker compose --profile demo up`
# until the demo prints COMPLETE; every container healthy; /healthz from the host; the
# operator tool (runs, audit, verify); `restart reporter`; `down`, `up -d` and the earlier run
# still listed; `down -v`. A failing step is named, with each container's last log lines.
#
# The documented override (tests/compose/README.md): `docker-compose` (v1, Debian's) stands in
# for `docker compose` with the classic builder, the images are built before `up` (so an image
# left by an earlier run never serves stale code), and when python:3.11-slim cannot be pulled
# .env gets PYTHON_IMAGE=<the local stand-in>.
#
# Environment: DOCKER (default /usr/bin/docker), COMPOSE (default docker-compose),
# TRAINBRIDGE_COMPOSE_KEEP=1 leaves the stack and its copy of the tree up after a failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export DOCKER="${DOCKER:-/usr/bin/docker}"
COMPOSE="${COMPOSE:-docker-compose}"
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
# A name of its own, so it never touches a stack a developer runs from this directory.
export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-tbcomposetest}"
# A Debian CLI first on PATH, for docker-compose's own calls.
export PATH="$(dirname "$DOCKER"):$PATH"

started=$SECONDS
step_name="setup"
step_started=$SECONDS
work=""

say() { printf 'compose-test [%4ds] %s\n' "$((SECONDS - started))" "$*"; }
step() {
  [ "$step_name" = setup ] || say "ok: $step_name ($((SECONDS - step_started)) s)"
  step_name="$1"; step_started=$SECONDS
  say "step: $step_name"
}
compose() { "$COMPOSE" "$@"; }
container_of() { compose --profile demo --profile tools ps -q "$1" 2>/dev/null | head -n 1; }

on_exit() {
  local code=$?
  [ "$code" -eq 0 ] || say "FAILED at step: $step_name (exit $code)"
  if [ "$code" -ne 0 ] && [ -n "$work" ] && [ -d "$work/tree" ]; then
    (cd "$work/tree" && for service in $(compose --profile demo --profile tools ps --services 2>/dev/null); do
      [ -n "$(container_of "$service")" ] || continue
      echo "----- $service: last log lines -----"
      compose --profile demo --profile tools logs --no-color --tail 25 "$service" 2>&1 | tail -n 25
    done) || true
    if [ -f "$work/up.log" ]; then echo "----- docker compose up: last lines -----"; tail -n 40 "$work/up.log"; fi
  fi
  if [ -n "$work" ] && [ -d "$work/tree" ]; then
    if [ "$code" -ne 0 ] && [ "${TRAINBRIDGE_COMPOSE_KEEP:-0}" = 1 ]; then
      say "kept: the stack and $work (TRAINBRIDGE_COMPOSE_KEEP=1)"
    else
      (cd "$work/tree" && compose --profile demo --profile tools down -v --remove-orphans >/dev/null 2>&1) || true
      [ -z "${up_pid:-}" ] || kill "$up_pid" 2>/dev/null || true
      rm -rf "$work"
    fi
  fi
  [ "$code" -eq 0 ] && say "PASSED in $((SECONDS - started)) s"
  exit "$code"
}
trap on_exit EXIT
# A signal (a CI timeout, Ctrl-C) is a failure, not a pass: exit non-zero so on_exit says so.
trap 'exit 143' TERM
trap 'exit 130' INT

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND each second until it succeeds.
wait_for() {
  local limit="$1" what="$2"; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then say "timed out after ${limit} s: $what"; return 1; fi
    sleep 1
  done
}

healthy() {
  local id
  id="$(container_of "$1")"
  [ -n "$id" ] && [ "$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$id")" = healthy ]
}
all_healthy() { for service in "$@"; do healthy "$service" || return 1; done; }

step "a Docker engine"
"$here/engine.sh" --with docker-compose:docker-compose

step "stand-in images"
python_image="$("$here/standins/build.sh")"
say "Python base image: $python_image"

step "a copy of the working tree"
work="$(mktemp -d)"
mkdir "$work/tree"
# Tracked and new files, not ignored ones (.env, .venv); never a developer's
# docker-compose.override.yml, which compose would apply to the README's commands.
(cd "$repo" && git -c safe.directory="$repo" ls-files -z --cached --others --exclude-standard \
  | grep -zv '^docker-compose.override.yml$' \
  | xargs -0 -I{} sh -c '[ ! -e "$1" ] || printf "%s\0" "$1"' _ {} \
  | tar --null -T - -c) | tar -C "$work/tree" -x
cd "$work/tree"

step "cp .env.example .env"
cp .env.example .env
if [ "$python_image" != python:3.11-slim ]; then
  printf '\n# compose test override: no Docker Hub here\nPYTHON_IMAGE=%s\n' "$python_image" >> .env
fi

step "build the images"
compose --profile demo --profile tools build --quiet >"$work/build.log" 2>&1 \
  || { tail -n 40 "$work/build.log"; exit 1; }

step "docker compose --profile demo up, until the demo prints COMPLETE"
compose --profile demo up --no-color >"$work/up.log" 2>&1 &
up_pid=$!
demo_client_exited() {
  local id
  id="$(container_of demo-client)"
  [ -n "$id" ] && [ "$("$DOCKER" inspect -f '{{.State.Status}}' "$id")" = exited ]
}
# Over when the demo prints its run's end, or its client gives up (ingest refused it, say),
# or `up` itself ended.
demo_finished() {
  ! kill -0 "$up_pid" 2>/dev/null || demo_client_exited \
    || grep -Eq 'demo-client[^|]*\| model run .*(COMPLETE|FAILED)$' "$work/up.log"
}
# A service that exits (a misconfiguration ends one with status 2) is restarted by compose
# for ever: the first restart fails the step at once instead of at the demo's timeout.
restarted() {
  local id count
  for service in ingest trainer reporter fake-labelbox; do
    id="$(container_of "$service")"
    [ -n "$id" ] || continue
    count="$("$DOCKER" inspect -f '{{.RestartCount}}' "$id")"
    if [ "$count" -gt 0 ]; then echo "$service exited and was restarted ($count)" >"$work/restarted"; return 0; fi
  done
  return 1
}
demo_finished_or_a_service_restarted() { demo_finished || restarted; }
wait_for 420 "the demo's model run to finish" demo_finished_or_a_service_restarted
if [ -s "$work/restarted" ]; then say "$(cat "$work/restarted")"; exit 1; fi
# The client's own log (up's attached output may lag behind the container's exit).
compose logs --no-color demo-client >"$work/demo.log" 2>&1 || true
sed 's/^/  /' "$work/demo.log" | tail -n 12
run_line="$(grep -E 'demo-client[^|]*\| model run .*COMPLETE$' "$work/demo.log")" \
  || { say "the demo did not print COMPLETE"; exit 1; }
run_id="$(sed -E 's/.*\| model run ([^:]+):.*/\1/' <<<"$run_line")"
say "model run $run_id reached COMPLETE"
wait_for 30 "demo-client to exit" demo_client_exited
[ "$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$(container_of demo-client)")" = 0 ]

step "every container healthy"
wait_for 120 "postgres, rabbitmq, ingest, trainer, reporter and fake-labelbox healthy" \
  all_healthy postgres rabbitmq ingest trainer reporter fake-labelbox
[ "$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$(container_of migrate)")" = 0 ]

step "/healthz from the host"
python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=5)"

step "every service runs as uid 10001"
for service in ingest trainer reporter fake-labelbox; do
  [ "$("$DOCKER" exec "$(container_of "$service")" id -u)" = 10001 ] || { say "$service is not uid 10001"; exit 1; }
done

step "operator: runs, audit, verify"
compose run --rm -T operator runs --json >"$work/runs.json"
python3 - "$work/runs.json" "$run_id" <<'PY'
import json, sys
runs = {r["model_run_id"]: r for r in json.load(open(sys.argv[1]))}
run = runs.get(sys.argv[2])
assert run is not None, f"{sys.argv[2]} not in `runs`: {sorted(runs)}"
assert run["status"] == "COMPLETE", run
PY
compose run --rm -T operator audit "$run_id" >"$work/audit.txt"
tail -n 5 "$work/audit.txt"
grep -q COMPLETE "$work/audit.txt"
compose run --rm -T operator verify

step "restart reporter"
compose restart reporter
wait_for 90 "reporter healthy after its restart" healthy reporter

step "down, then up -d: the earlier run is still listed"
compose --profile demo down
wait "$up_pid" 2>/dev/null || true
up_pid=""
compose up -d
wait_for 180 "postgres, rabbitmq, ingest, trainer and reporter healthy" \
  all_healthy postgres rabbitmq ingest trainer reporter
compose run --rm -T operator runs >"$work/runs-after.txt"
head -n 5 "$work/runs-after.txt"
grep -q -- "$run_id" "$work/runs-after.txt"

step "down -v"
compose --profile demo --profile tools down -v --remove-orphans
[ -z "$("$DOCKER" volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")" ]
step "done"
