#!/usr/bin/env bash
# Benchmark 7 (run by hand, not by run.sh): how long a client with a token
# waits for GET /v1/vms while one address floods nubod with idle and
# trickling connections (issue 12, part 2; tests/api/security.sh checks that
# it is answered at all). Latency of N requests one after another, each on a
# new connection as the CLI makes them (curl's time_total: connect, TLS,
# request, answer), and on one kept HTTPS connection (a client that reuses
# it), quiet and under the flood, over HTTPS and the unix socket.
# nubod runs with --dry-run in a temporary folder; everything is on
# 127.0.0.1 and is removed at the end.
#
#   bench/07-flood.sh [BUILD_DIR]      BENCH_FLOOD_N (default 200) requests per row
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=${1:-build}/src/cmd
N=${BENCH_FLOOD_N:-200}
IDLE=${BENCH_FLOOD_IDLE:-1100}
TRICKLE=${BENCH_FLOOD_TRICKLE:-8}
W=$(mktemp -d /tmp/bench-flood.XXXXXX)
chmod 755 "$W"
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	"$BIN/nubod" --state-dir "$W/state" --socket "$W/s.sock" --destroy --dry-run >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$W/key.pem" -out "$W/cert.pem" >/dev/null 2>&1
for port in $(shuf -i 20000-60000 -n 100); do ss -Hltn "sport = :$port" | grep -q . || break; done
"$BIN/nubod" --dry-run --state-dir "$W/state" --socket "$W/s.sock" --listen 127.0.0.1:$port \
	--tls-cert "$W/cert.pem" --tls-key "$W/key.pem" >"$W/nubod.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf --unix-socket "$W/s.sock" http://nubo/v1/types >/dev/null && break; sleep 0.05; done
TOKEN=$(curl -s --unix-socket "$W/s.sock" -d '{"name":"bench"}' http://nubo/v1/tokens | jq -r .secret)

# keepalive: N requests one after another on one kept HTTPS connection (as a
# client that reuses its connection makes them); "STATUS SECONDS" lines.
keepalive() {
	python3 - "$port" "$W/cert.pem" "$TOKEN" "$N" <<'PY'
import http.client, ssl, sys, time
port, cert, token, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(cafile=cert)
c = None
for _ in range(n):
    t0 = time.monotonic()
    try:
        if c is None:
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
        c.request("GET", "/v1/vms", headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        r.read()
        print(r.status, time.monotonic() - t0)
    except (OSError, http.client.HTTPException):
        c = None   # counted as not answered; the next request reconnects
        print(0, time.monotonic() - t0)
PY
}

# run WAY: N requests; prints "answered p50_ms p99_ms max_ms"
run() {
	local i
	if [ "$1" = https-keepalive ]; then
		keepalive
	else
		for i in $(seq 1 "$N"); do
			if [ "$1" = https ]; then
				curl -s --cacert "$W/cert.pem" --max-time 5 -H "Authorization: Bearer $TOKEN" -o /dev/null \
					-w '%{http_code} %{time_total}\n' "https://127.0.0.1:$port/v1/vms"
			else
				curl -s --unix-socket "$W/s.sock" --max-time 5 -o /dev/null -w '%{http_code} %{time_total}\n' \
					http://nubo/v1/vms
			fi
		done
	fi | awk '$1 == 200 {printf "%.1f\n", $2 * 1000}' | sort -n | awk '{t[NR] = $1} END {
		if (!NR) {print 0, "-", "-", "-"; exit}
		i99 = int(NR * 0.99 + 0.999); if (i99 > NR) i99 = NR
		print NR, t[int((NR + 1) / 2)], t[i99], t[NR] }'
}

printf 'listener\tflood\tanswered\tp50_ms\tp99_ms\tmax_ms\n'
for way in https https-keepalive unix; do
	printf '%s\tnone\t%s\n' "$way" "$(run "$way" | awk -v n="$N" '{printf "%s/%s\t%s\t%s\t%s", $1, n, $2, $3, $4}')"
	if [ "$way" = unix ]; then target=(--unix "$W/s.sock"); else target=(--tcp 127.0.0.1:$port); fi
	python3 tests/api/flood.py "${target[@]}" --idle "$IDLE" --trickle "$TRICKLE" --seconds 110 \
		--max-opens 200000 --rate "${BENCH_FLOOD_RATE:-1000}" >"$W/flood-$way.json" &
	flood=$!
	sleep 3
	printf '%s\t%s idle + %s trickling\t%s\n' "$way" "$IDLE" "$TRICKLE" \
		"$(run "$way" | awk -v n="$N" '{printf "%s/%s\t%s\t%s\t%s", $1, n, $2, $3, $4}')"
	kill "$flood" 2>/dev/null
	wait "$flood" 2>/dev/null
done
echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD 2>/dev/null)"
