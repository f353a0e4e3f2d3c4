#!/usr/bin/env bash
# API tests for connection floods (issue 12, part 2): nubod raises its open
# file limit at start; a connection that trickles its headers is cut at the
# header deadline; while one address (127.0.0.1, and root on the unix socket)
# holds floods of idle and trickling connections, a client with a token is
# still answered on both; refused tokens are logged once and then summed up
# per address. Everything runs on 127.0.0.1 and the test's own unix socket;
# each flood is bounded in time and in connections (tests/api/flood.py).
# Latency under the flood is measured by bench/07-flood.sh, not here.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run
FLOOD="python3 $(dirname "$0")/flood.py"

TLS=$T_DIR/tls
mkdir -p "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$TLS/key.pem" -out "$TLS/cert.pem" >/dev/null 2>&1
chmod 600 "$TLS/key.pem"
PORT=$(free_port)
URL=https://127.0.0.1:$PORT

# --- the open file limit is raised at start ---
hard=$(ulimit -Hn)
(ulimit -Sn 1024 && exec "$NUBOD" --dry-run --state-dir "$T_DIR/s2" --socket "$T_DIR/s2.sock" >"$T_DIR/s2.log" 2>&1) &
pid2=$!
wait_for 10 test -S "$T_DIR/s2.sock"
soft=$(awk '/^Max open files/ {print $4}' "/proc/$pid2/limits")
kill "$pid2"; wait "$pid2" 2>/dev/null
want=$((hard < 262144 ? hard : 262144))
is "$soft" "$want" "nubod started with ulimit -Sn 1024 raises its open file limit to the hard limit ($want)"

nubod_start --dry-run --listen 127.0.0.1:$PORT --tls-cert "$TLS/cert.pem" --tls-key "$TLS/key.pem" ||
	{ ok 1 "nubod starts with --listen"; exit 1; }
ok 0 "nubod starts with --listen and TLS"
TOKEN=$(body_of "$(api POST /v1/tokens '{"name":"flood"}')" | jq -r .secret)
like "$TOKEN" '^nubo_' "a token is made"

# served N LOG: N authorized requests one after another, over TLS; each
# must be answered 200 within 5 s. Prints how many were; times go to LOG.
served() {
	local i n=0 out
	for i in $(seq 1 "$1"); do
		out=$(curl -s --cacert "$TLS/cert.pem" --max-time 5 -H "Authorization: Bearer $TOKEN" \
			-o /dev/null -w '%{http_code} %{time_total} %{exitcode} %{errormsg}' "$URL/v1/vms")
		[ "${out%% *}" = 200 ] && n=$((n + 1))
		echo "$out" >>"$2"
		sleep 0.1
	done
	echo "$n"
}
# served_unix N: the same over the unix socket
served_unix() {
	local i n=0
	for i in $(seq 1 "$1"); do
		[ "$(curl -s --unix-socket "$T_SOCK" --max-time 5 -o /dev/null -w '%{http_code}' http://nubo/v1/vms)" = 200 ] &&
			n=$((n + 1))
		sleep 0.1
	done
	echo "$n"
}
jget() { printf '%s' "$1" | jq -r ".$2"; }

# --- trickled headers are cut at the deadline, not kept alive by each byte ---
out=$($FLOOD --tcp 127.0.0.1:$PORT --trickle 4 --seconds 14 --max-opens 40)
ok $? "a trickle of headers over TLS runs" "$out"
life=$(jget "$out" trickle_max_life_s)
[ "$(jget "$out" trickle_closed_by_server)" -ge 4 ] && awk "BEGIN{exit !($life < 13)}"
ok $? "connections trickling a byte a second are cut within the 10 s deadline (longest lived ${life} s)" "$out"
out=$($FLOOD --unix "$T_SOCK" --trickle 4 --seconds 14 --max-opens 40)
life=$(jget "$out" trickle_max_life_s)
[ "$(jget "$out" trickle_closed_by_server)" -ge 4 ] && awk "BEGIN{exit !($life < 13)}"
ok $? "on the unix socket too (longest lived ${life} s)" "$out"

# --- a flood from 127.0.0.1 over TCP: the token holder is answered ---
$FLOOD --tcp 127.0.0.1:$PORT --idle 1100 --trickle 8 --seconds 15 --max-opens 15000 >"$T_DIR/flood-tcp.json" &
flood=$!
sleep 3
n=$(served 30 "$T_DIR/times-tcp")
wait "$flood"
ok $? "the TCP flood ran" "$(cat "$T_DIR/flood-tcp.json")"
is "$n" 30 "during a flood of 1,100 idle and 8 trickling connections from 127.0.0.1, 30 of 30 requests with a token were answered"
is "$(served 1 "$T_DIR/times-after")" 1 "and after it"

# --- the same on the unix socket ---
$FLOOD --unix "$T_SOCK" --idle 1100 --trickle 8 --seconds 15 --max-opens 15000 >"$T_DIR/flood-unix.json" &
flood=$!
sleep 3
n=$(served_unix 30)
wait "$flood"
ok $? "the unix socket flood ran" "$(cat "$T_DIR/flood-unix.json")"
is "$n" 30 "during a flood of 1,100 idle and 8 trickling connections on the unix socket, 30 of 30 requests were answered"

# --- refused tokens: one line, then a summary per interval with counts per address ---
before=$(grep -c '→ 401' "$T_LOG")
for i in $(seq 1 40); do
	curl -s --cacert "$TLS/cert.pem" -o /dev/null -H "Authorization: Bearer nubo_wrong$i" "$URL/v1/vms"
done
sleep 11   # one interval of the summary (GATE_AUTH_LOG_INTERVAL_MS) and a tick
grep -q 'refused for their token' "$T_LOG"
ok $? "refused tokens are summed up at the end of the interval"
full=$(($(grep -c '→ 401' "$T_LOG") - before))
summed=$(grep 'refused for their token' "$T_LOG" | grep -oE '127\.0\.0\.1 ×[0-9]+' | grep -oE '[0-9]+$' | awk '{s += $1} END{print s + 0}')
[ "$full" -le 2 ]
ok $? "of 40 refusals, at most one per interval got a line of its own ($full)"
is "$((full + summed))" 40 "the summaries count the rest by address (127.0.0.1 ×$summed)"
nubod_stop
ok $? "nubod stops cleanly after the floods"
echo "1..$T_N"
