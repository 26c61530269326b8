#!/usr/bin/env bash
# Makes sure the local PostgreSQL and Redis that tests and the dev command use
# are running, starting them if they are installed but down. NATS is not
# needed: tests run nats-server in-process, and the dev command embeds it.
set -uo pipefail

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  else
    echo "services: PostgreSQL is not installed (apt-get install postgresql)" >&2
  fi
fi
if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "services: starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  else
    echo "services: Redis is not installed (apt-get install redis-server)" >&2
  fi
fi
for i in $(seq 1 30); do
  if pg_up && redis_up; then exit 0; fi
  sleep 1
done
pg_up || echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2
redis_up || echo "services: Redis is not reachable on 127.0.0.1:6379" >&2
exit 1
