#!/usr/bin/env bash
# Short-poll requests per CPU-second of the load generator: load-gen against wrk and oha, each
# driving the same push-server /poll endpoint on loopback, one after the other.
#
#   scripts/compare-http-load.sh [SECONDS] [CONNECTIONS]
#
# Needs wrk (apt-get install wrk) and oha (cargo install oha); a missing tool is reported and
# skipped. Every tool's CPU time is read from the kernel (getrusage of the child), so a busy
# machine slows the runs but does not change requests per CPU-second much. The server is started
# once and stopped by the trap, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-50}
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

cargo build --release -q -p load-gen
bin=target/release/load-gen
"$bin" push-server --http 127.0.0.1:0 --tcp 127.0.0.1:0 >"$tmp/server.out" 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$tmp/server.out" && break; sleep 0.1; done
http=$(sed -n 's/.*http=\([^ ]*\).*/\1/p' "$tmp/server.out")
tcp=$(sed -n 's/.*tcp=\([^ ]*\).*/\1/p' "$tmp/server.out")
[ -n "$http" ] || { echo "push-server did not start" >&2; exit 1; }
url="http://$http/poll?topic=bench&after=0"

# Runs a command and prints the user+system CPU seconds it (and its children) used.
cpu_of() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(out.stdout + out.stderr)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime + r.ru_stime:.3f}")
PY
}

printf '%-9s %10s %10s %12s %14s\n' tool requests cpu_s "req/s wall" "req/cpu-s"
report() { # tool requests cpu_s
  python3 -c "import sys; t,n,c,s=sys.argv[1],int(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]); print(f'{t:<9} {n:>10} {c:>10.2f} {n/s:>12.0f} {n/c:>14.0f}')" "$@" "$secs"
}

# load-gen: every connection polls back to back (a 1 µs cadence), keep-alive, as wrk and oha do.
cat >"$tmp/poll.toml" <<TOML
description = "short-poll request rate"
transports = ["short-poll"]
clients = $conns
topics = 1
rate = 1
message_size = 64
duration = "${secs}s"
warmup = "0s"
drain = "1s"
poll_interval = "0.001ms"
TOML
cpu=$(cpu_of "$bin" run "$tmp/poll.toml" --quiet --results "$tmp/results" --target "http://$http" --target-tcp "$tcp" 2>"$tmp/lg.log")
summary=$(ls "$tmp"/results/*/summary.json)
# load-gen's own accounting of its CPU covers the measured run only; getrusage includes start-up.
read -r lg_requests lg_cpu < <(python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['transports'][0]; print(t['requests'], t['generator']['cpu_s'])" "$summary")
report load-gen "$lg_requests" "$lg_cpu"
echo "          (load-gen process CPU including start-up and result writing: ${cpu}s)"

if command -v wrk >/dev/null; then
  cpu=$(cpu_of wrk -t1 -c"$conns" -d"${secs}s" "$url" 2>"$tmp/wrk.out")
  n=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$tmp/wrk.out")
  report wrk "$n" "$cpu"
else
  echo "wrk       not installed (apt-get install wrk)"
fi

if command -v oha >/dev/null; then
  cpu=$(cpu_of oha --no-tui -z "${secs}s" -c "$conns" "$url" 2>"$tmp/oha.out")
  n=$(python3 -c "import re,sys; t=open(sys.argv[1]).read(); m=re.search(r'\[200\] (\d+) responses', t); print(m.group(1) if m else 0)" "$tmp/oha.out")
  report oha "$n" "$cpu"
else
  echo "oha       not installed (cargo install oha)"
fi
