# Shared by the api and e2e suites: TAP output, a private nubod, HTTP helpers.
# Each test script sources this, calls nubod_start, and checks with ok/is.
#
# Everything a script makes lives under one temporary directory and one
# per-daemon host prefix, and is removed on exit even when a check fails.
#
# On exit a script prints its plan, "1..N" for the N checks it made, and
# exits non-zero when a check failed or when it stopped early (an `exit 1`,
# a command that failed under `set -u`): tests/run.sh counts either as a
# failure. A script adds its own clean-up with t_on_exit, not with trap.
#
# NUBO_TEST_DATABASE=postgres: nubod keeps its store in a fresh PostgreSQL
# database of the cluster tests/pg.sh started (or, for a script run alone, a
# private cluster this script starts and removes); t_sql reads either store.

NUBO_BIN=${NUBO_BIN:-build/src/cmd}
NUBOD=$NUBO_BIN/nubod
NUBO=$NUBO_BIN/nubo
T_DIR=$(mktemp -d /tmp/nubo-t.XXXXXX)
chmod 755 "$T_DIR"   # dnsmasq re-reads its hosts file as nobody
T_STATE=$T_DIR/state
T_SOCK=$T_DIR/nubod.sock
T_LOG=$T_DIR/nubod.log
T_N=0
T_FAILED=0
NUBOD_PID=
export NUBO_SOCKET=$T_SOCK
export XDG_CONFIG_HOME=$T_DIR/config

# ok CONDITION_EXIT_CODE DESCRIPTION [DETAIL]
ok() {
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $T_N - $2"
	else
		T_FAILED=$((T_FAILED + 1))
		echo "not ok $T_N - $2"
		[ -n "${3:-}" ] && printf '%s\n' "$3" | head -40 | sed 's/^/#   /'
	fi
	return 0
}

# is ACTUAL EXPECTED DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3" "expected: $2"$'\n'"got:      $1"; fi
}

# like ACTUAL REGEX DESCRIPTION
like() {
	# grep takes each line of a pattern as a pattern of its own, and an empty
	# one matches anything: a check with a newline in its pattern could not fail.
	case $2 in *$'\n'*)
		ok 1 "$3" "like: the pattern has a newline; match each line with ^ and \$ instead"
		return ;;
	esac
	if printf '%s' "$1" | grep -Eq -- "$2"; then ok 0 "$3"; else ok 1 "$3" "expected to match: $2"$'\n'"got: $1"; fi
}

T_DB_FLAGS=()   # --database URL on PostgreSQL; every nubod of the script gets it
T_PG_OWN=       # this script started the cluster itself
if [ "${NUBO_TEST_DATABASE:-sqlite}" = postgres ]; then
	if [ -z "${NUBO_TEST_PG_DIR:-}" ]; then
		source "$(dirname "${BASH_SOURCE[0]}")/pg.sh"
		pg_cluster_start || { rm -rf "$T_DIR"; exit 1; }
		T_PG_OWN=1
	fi
	T_PG_DB=nubo_t_$$   # unique among the scripts running now
	T_PSQL=(psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$NUBO_TEST_PG_DIR" -p "$NUBO_TEST_PG_PORT" -U nubo)
	"${T_PSQL[@]}" -d postgres -c "CREATE DATABASE $T_PG_DB" >/dev/null || { rm -rf "$T_DIR"; exit 1; }
	T_DB_FLAGS=(--database "postgres://nubo@/$T_PG_DB?host=$NUBO_TEST_PG_DIR&port=$NUBO_TEST_PG_PORT")
fi

# t_sql SQL: runs SQL on the store of this script's nubod; rows as a|b|c.
t_sql() {
	if [ ${#T_DB_FLAGS[@]} -gt 0 ]; then
		"${T_PSQL[@]}" -d "$T_PG_DB" -c "$1"
	else
		sqlite3 -cmd ".timeout 5000" "$T_STATE/nubo.db" "$1"
	fi
}

# t_store_dump: everything the store holds, as bytes (files or pg_dump).
t_store_dump() {
	if [ ${#T_DB_FLAGS[@]} -gt 0 ]; then
		pg_dump -h "$NUBO_TEST_PG_DIR" -p "$NUBO_TEST_PG_PORT" -U nubo "$T_PG_DB"
	else
		cat "$T_STATE"/nubo.db*
	fi
}

# nubod_start [extra flags]: starts a private nubod and waits for its socket.
nubod_start() {
	"$NUBOD" --state-dir "$T_STATE" --socket "$T_SOCK" "${T_DB_FLAGS[@]}" "$@" >>"$T_LOG" 2>&1 &
	NUBOD_PID=$!
	local i
	for i in $(seq 1 100); do
		[ -S "$T_SOCK" ] && curl -s --unix-socket "$T_SOCK" http://nubo/v1/types >/dev/null && return 0
		sleep 0.05
	done
	echo "# nubod did not start; its log:"; sed 's/^/#   /' "$T_LOG"
	return 1
}

# nubod_stop: SIGTERM, a clean exit (VMs keep running); returns nubod's exit
# status. One that has not exited after 60 s is a bug: a failed check shows
# where its threads wait, it is killed, and nubod_stop returns 1.
nubod_stop() {
	[ -n "$NUBOD_PID" ] || return 0
	kill "$NUBOD_PID" 2>/dev/null
	local end=$((SECONDS + 60))
	while kill -0 "$NUBOD_PID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.05; done
	if kill -0 "$NUBOD_PID" 2>/dev/null && [ -z "$(ps -o stat= -p "$NUBOD_PID" | grep Z)" ]; then
		# nubo's own frames of each thread: where it waits
		ok 1 "nubod (pid $NUBOD_PID) exits within 60 s of SIGTERM" "$(gdb -q -batch -p "$NUBOD_PID" \
			-ex "thread apply all bt" 2>&1 | grep -E '^Thread|/src/' | sed -E 's/^#[0-9]+ +(0x[0-9a-f]+ in )?/  /')"
		nubod_kill9
		return 1
	fi
	wait "$NUBOD_PID" 2>/dev/null
	local rc=$?
	NUBOD_PID=
	return $rc
}

nubod_kill9() {
	[ -n "$NUBOD_PID" ] || return 0
	kill -9 "$NUBOD_PID" 2>/dev/null
	wait "$NUBOD_PID" 2>/dev/null
	NUBOD_PID=
}

# api METHOD PATH [BODY]: prints "STATUS BODY"
# free_port: a TCP port no socket of this host uses now, listening or not,
# below the ephemeral range (32768 up) so that no outgoing connection takes
# it before the caller binds it.
free_port() {
	local p
	for p in $(shuf -i 20000-32000 -n 100); do
		ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}

api() {
	local out
	out=$(curl -s --unix-socket "$T_SOCK" -X "$1" ${3:+-d "$3"} -w '\n%{http_code}' "http://nubo$2")
	local status=${out##*$'\n'}
	printf '%s %s' "$status" "${out%$'\n'*}"
}
status_of() { printf '%s' "${1%% *}"; }
# op_state ID: an operation's state; op_ended ID: whether it has ended.
op_state() { body_of "$(api GET "/v1/operations/$1")" | jq -r .state; }
op_ended() { case $(op_state "$1") in succeeded | failed) return 0 ;; *) return 1 ;; esac; }
# chains_ok: every qcow2 under the state passes qemu-img check (-U: a running
# QEMU holds some) and its whole backing chain opens; prints what does not.
chains_ok() {
	local f bad=""
	for f in $(find "$T_STATE" -name '*.qcow2'); do
		qemu-img check -U -q "$f" >/dev/null 2>&1 || bad="$bad check:$f"
		qemu-img info -U --backing-chain "$f" >/dev/null 2>&1 || bad="$bad chain:$f"
	done
	printf '%s' "$bad"
}
body_of() { printf '%s' "${1#* }"; }

# events_last_seq: the newest event's number (the log is read in pages).
events_last_seq() {
	local seq=0 next
	while next=$(body_of "$(api GET "/v1/events?after=$seq&limit=1000")" | jq -r '.last_seq // empty') &&
		[ -n "$next" ] && [ "$next" != "$seq" ]; do
		seq=$next
	done
	printf '%s' "$seq"
}

# crash_created_op SEQ: the operation created after event SEQ. A nubod
# killed right after a request can die before its answer is sent (curl:
# 000): the request was recorded all the same, and its operation is in the
# event log.
crash_created_op() {
	body_of "$(api GET "/v1/events?after=$1&kind=operation")" |
		jq -r '[.events[] | select(.what | startswith("created"))] | first | .id // empty'
}

# vm_qmp VM_ID COMMAND...: sends QMP commands (one JSON each) to that VM's
# QEMU, as nubod would; prints QEMU's answers, one JSON a line.
vm_qmp() {
	local id=$1; shift
	printf '%s\n' '{"execute":"qmp_capabilities"}' "$@" | socat -t 5 - "UNIX-CONNECT:$T_STATE/vms/$id/qmp.sock"
}

# qemu_volume VM_ID VOLUME_ID: what that VM's QEMU has of the volume, asked
# over QMP: "node device" (plugged in), "node" or "device" (half of it),
# "none", or "unknown" when QEMU did not answer.
qemu_volume() {
	vm_qmp "$1" '{"execute":"query-named-block-nodes"}' \
		'{"execute":"qom-list","arguments":{"path":"/machine/peripheral"}}' 2>/dev/null |
		jq -rs --arg v "$2" '[.[] | select(has("return")) | .return] |
			if length < 3 then "unknown" else
			[(if any(.[1][]; .["node-name"] == $v) then "node" else empty end),
			 (if any(.[2][]; .name == "dev-" + $v) then "device" else empty end)] |
			if length == 0 then "none" else join(" ") end end' || printf unknown
}

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds
wait_for() {
	local limit=$1; shift
	local end=$((SECONDS + limit))
	while [ $SECONDS -lt $end ]; do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}

T_BG_PIDS=()   # helper servers a test starts; killed on exit
T_MOUNTS=()    # file systems a test mounts; unmounted on exit
T_ON_EXIT=()   # commands a test adds with t_on_exit; run first on exit
T_PLANNED=

# Scripts written before lib.sh printed the plan end with `echo "1..$T_N"`,
# and a script that cannot run here skips itself whole with
# `echo "1..0 # SKIP reason"; exit 0`: note either, so that the exit trap
# does not print a second plan.
echo() {
	case "$*" in "1..$T_N" | "1..0 #"*) T_PLANNED=1 ;; esac
	builtin echo "$@"
}

# t_on_exit COMMAND: run COMMAND (one string, eval'ed) when the script exits,
# before lib.sh's own clean-up.
t_on_exit() { T_ON_EXIT+=("$1"); }

# t_exit STATUS LAST_COMMAND: the EXIT trap. Cleans up, prints the plan and
# exits with STATUS, or 1 if STATUS is 0 and a check failed.
t_exit() {
	local rc=$1 last=$2 c
	if [ "$rc" -ne 0 ]; then
		echo "# the script stopped early, with status $rc, at: $last"
	fi
	for c in "${T_ON_EXIT[@]}"; do eval "$c"; done
	t_cleanup "$rc"
	[ -n "$T_PLANNED" ] || echo "1..$T_N"
	[ "$rc" -eq 0 ] && [ "$T_FAILED" -gt 0 ] && rc=1
	exit "$rc"
}

# t_cleanup [STATUS]: removes what the script made. Called by t_exit; a
# script that sets its own EXIT trap must call it.
t_cleanup() {
	[ ${#T_BG_PIDS[@]} -gt 0 ] && kill "${T_BG_PIDS[@]}" 2>/dev/null
	nubod_kill9
	# --destroy stops every VM and removes taps, dnsmasq, bridge, nft table and files.
	# Whatever it cannot remove fails the script: a check cannot see it
	# otherwise, and a QEMU left running slows every script after it.
	if [ -d "$T_STATE" ] && ! "$NUBOD" --state-dir "$T_STATE" --socket "$T_SOCK" "${T_DB_FLAGS[@]}" --destroy ${T_DESTROY_FLAGS:-} >>"$T_LOG" 2>&1; then
		ok 1 "nubod --destroy removes what the script made" "$(tail -5 "$T_LOG")"
	fi
	local left=
	[ -n "$T_STATE" ] && left=$(pgrep -af -- "$T_STATE/" | cut -c1-160)
	if [ -n "$left" ]; then
		ok 1 "no process of this state outlives nubod --destroy" "$left"
		pkill -9 -f -- "$T_STATE/"
	fi
	if { [ "$T_FAILED" -gt 0 ] || [ "${1:-0}" -ne 0 ]; } && [ -f "$T_LOG" ]; then
		echo "# nubod log (last 40 lines):"
		tail -40 "$T_LOG" | sed 's/^/#   /'
	fi
	[ ${#T_MOUNTS[@]} -gt 0 ] && umount "${T_MOUNTS[@]}" 2>/dev/null
	rm -rf "$T_DIR"
	if [ -n "${T_PG_DB:-}" ]; then
		if [ -n "$T_PG_OWN" ]; then
			pg_cluster_stop
		else
			"${T_PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $T_PG_DB WITH (FORCE)" >/dev/null 2>&1
		fi
	fi
	# Called from a script's own trap (no STATUS): a failed check still fails the script.
	[ $# -eq 0 ] && [ "$T_FAILED" -gt 0 ] && exit 1
	return 0
}
trap 't_exit $? "$BASH_COMMAND"' EXIT
