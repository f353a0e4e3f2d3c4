# Two nubods on one machine and one database: h1 (the script's own, from
# tests/lib.sh) and h2 (a state directory of its own), each with
# --listen-http on loopback, where the other fetches its files. Sourced by
# e2e scripts after tests/lib.sh (and tests/crash-lib.sh, whose nubod h2
# then runs too), with NUBO_TEST_DATABASE=postgres.
#   H1_FLAGS     h1's flags for nubod_start, crash_arm and the like
#   h1_start     nubod_start "${H1_FLAGS[@]}"
#   h2_start     starts h2 in the background; h2_cleanup (on exit) removes it
#   h2 ARGS...   the nubo CLI against h2
T_DESTROY_FLAGS="--host-name h1"
P1=$(free_port) P2=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done
printf '{"host_down_after_s": 3}\n' >"$T_DIR/nubod.json"
H1_FLAGS=(--config "$T_DIR/nubod.json" --host-name h1 --advertise 127.0.0.1 --listen-http "127.0.0.1:$P1")
H2_STATE=$T_DIR/h2-state H2_SOCK=$T_DIR/h2.sock H2_LOG=$T_DIR/h2.log H2_PID=
h1_start() { nubod_start "${H1_FLAGS[@]}"; }
h2_start() {
	"$NUBOD" --state-dir "$H2_STATE" --socket "$H2_SOCK" "${T_DB_FLAGS[@]}" --config "$T_DIR/nubod.json" \
		--host-name h2 --advertise 127.0.0.1 --listen-http "127.0.0.1:$P2" >>"$H2_LOG" 2>&1 &
	H2_PID=$!
	wait_for 10 curl -sf --unix-socket "$H2_SOCK" http://nubo/v1/types -o /dev/null
}
h2_cleanup() {
	[ -n "$H2_PID" ] && kill -9 "$H2_PID" 2>/dev/null && wait "$H2_PID" 2>/dev/null
	"$NUBOD" --state-dir "$H2_STATE" --socket "$H2_SOCK" "${T_DB_FLAGS[@]}" --host-name h2 --destroy >>"$H2_LOG" 2>&1
	[ "$T_FAILED" -gt 0 ] && { echo "# h2 log (last 20 lines):"; tail -20 "$H2_LOG" | sed 's/^/#   /'; }
	return 0
}
t_on_exit h2_cleanup
h2() { NUBO_SOCKET=$H2_SOCK "$NUBO" "$@"; }
