#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs Debian's docker.io, docker-compose (v1) and
# debootstrap when they are missing, and starts dockerd in the background when it is not
# running (its log: /var/log/trainbridge-dockerd.log). Needs root for both.
#
# Environment: DOCKER (default /usr/bin/docker, Debian's own CLI: another client that may come
# first on PATH is not the one docker-compose v1 and the engine were packaged with).
set -euo pipefail
docker="${DOCKER:-/usr/bin/docker}"
log=/var/log/trainbridge-dockerd.log

say() { echo "engine: $*" >&2; }
answers() { "$docker" info >/dev/null 2>&1; }

if [ ! -x "$docker" ] || [ ! -x /usr/sbin/dockerd ] || ! command -v docker-compose >/dev/null \
   || ! command -v debootstrap >/dev/null; then
  say "installing docker.io, docker-compose and debootstrap from Debian"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null
fi

if ! answers; then
  say "starting dockerd (log: $log)"
  nohup /usr/sbin/dockerd >>"$log" 2>&1 &
  for _ in $(seq 1 60); do answers && break; sleep 1; done
fi
if ! answers; then
  say "the Docker engine does not answer after 60 s; last lines of $log:"
  tail -n 20 "$log" >&2
  exit 1
fi
say "$("$docker" version -f 'engine {{.Server.Version}}, client {{.Client.Version}}')"
