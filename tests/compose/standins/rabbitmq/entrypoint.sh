#!/bin/sh
# What the official image does that Trainbridge relies on: the default user from
# RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS (guest/guest when unset), reachable from other
# hosts; AMQP on 5672 and the management API on 15672; then the server as the rabbitmq user.
set -eu
[ "${1:-}" = rabbitmq-server ] || exec "$@"

cat > /etc/rabbitmq/rabbitmq.conf <<CONF
loopback_users = none
listeners.tcp.default = 5672
management.tcp.port = 15672
default_user = ${RABBITMQ_DEFAULT_USER:-guest}
default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}
CONF
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
cd /var/lib/rabbitmq
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups env HOME=/var/lib/rabbitmq \
  /usr/lib/rabbitmq/bin/rabbitmq-server
