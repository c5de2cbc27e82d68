#!/usr/bin/env bash
# Starts a real sessiongated and drives it with redis-cli, checking replies byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/sessiongated" ./cmd/sessiongated
port=$((20000 + RANDOM % 20000))
"$tmp/sessiongated" --addr 127.0.0.1:$port 2>"$tmp/log" &
pid=$!
for _ in $(seq 1 100); do
  redis-cli -p $port PING >/dev/null 2>&1 && break
  sleep 0.1
done
cli() { redis-cli -p $port "$@"; }
expect() { # expect <want> <command...>
  local want=$1; shift
  local got; got=$(cli "$@")
  if [ "$got" != "$want" ]; then
    echo "FAIL: $* -> '$got', want '$want'"; cat "$tmp/log"; exit 1
  fi
  echo "ok: $* -> $got"
}
expect PONG PING
tok=$(cli SESSIONGATE.START qwerty 300)
[[ "$tok" =~ ^v1\.[A-Za-z0-9]{16}\.[0-9a-f]{64}$ ]] || { echo "bad token '$tok'"; exit 1; }
echo "ok: START -> $tok"
expect OK SESSIONGATE.PSET qwerty "$tok" user '{"name":"John Doe"}'
expect '{"name":"John Doe"}' SESSIONGATE.PGET qwerty "$tok" user
expect OK SESSIONGATE.EXPIRE qwerty "$tok" 600
expect OK SESSIONGATE.PDEL qwerty "$tok" user
expect 'the requested <payload_name> does not exist' SESSIONGATE.PGET qwerty "$tok" user
expect 'the signature contained in <token> is invalid' SESSIONGATE.PGET other "$tok" user
expect '<token> format is invalid' SESSIONGATE.PGET qwerty v1.short user
expect "ERR wrong number of arguments for 'sessiongate.start' command" SESSIONGATE.START qwerty
expect OK SESSIONGATE.END qwerty "$tok"
expect 'the session id contained in <token> does not exist' SESSIONGATE.PGET qwerty "$tok" user
owner_tok=$(cli SESSIONGATE.CREATE qwerty 300 OWNER alice IP 10.0.0.1)
expect 1 SESSIONGATE.ENDOWNER qwerty alice
cli INFO sessions | grep -q '^sessions:' || { echo "INFO has no sessions section"; exit 1; }
echo "ok: INFO sessions"
echo "redis-cli checks passed"
