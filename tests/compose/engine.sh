#!/usr/bin/env bash
# Makes sure a Docker engine answers. An engine that already answers is used as it is. Else
# Debian's docker.io is installed if no dockerd is there, and dockerd started in the background
# (its log: /var/log/trainbridge-dockerd.log). Needs root for both.
#
# Environment: DOCKER (default /usr/bin/docker, Debian's own CLI: another client that may come
# first on PATH is not the one docker-compose v1 and the engine were packaged with).
set -euo pipefail
docker="${DOCKER:-/usr/bin/docker}"
log=/var/log/trainbridge-dockerd.log

say() { echo "engine: $*" >&2; }
answers() { [ -x "$docker" ] && "$docker" info >/dev/null 2>&1; }

# Debian's packages, when a command this directory uses is missing.
need() {
  local missing=()
  for package_and_command in "$@"; do
    command -v "${package_and_command#*:}" >/dev/null || missing+=("${package_and_command%%:*}")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  say "installing ${missing[*]} from Debian"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

if ! answers; then
  need docker.io:dockerd
  [ -x "$docker" ] || need docker.io:"$docker"
  say "starting dockerd (log: $log)"
  nohup dockerd </dev/null >>"$log" 2>&1 &
  for _ in $(seq 1 60); do answers && break; sleep 1; done
fi
if ! answers; then
  say "the Docker engine does not answer after 60 s; last lines of $log:"
  tail -n 20 "$log" >&2
  exit 1
fi
[ "${1:-}" != --with ] || { shift; need "$@"; }
say "$("$docker" version -f 'engine {{.Server.Version}}, client {{.Client.Version}}')"
