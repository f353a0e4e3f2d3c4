# The crash-point harness, sourced by tests/e2e/crash_*.sh after tests/lib.sh.
#
# A nubod built with -Dcrashpoints=true (build-crash, see util/crashpoint.h)
# can be told to kill itself with SIGKILL at a named step. A script runs an
# action once with a trace to learn the steps it passes (crash_trace_start /
# crash_steps), then, for each step, arms it (crash_arm STEP), runs the same
# action, waits for nubod to die there (crash_wait_dead), restarts it
# unarmed, and checks that it converges.

NUBO_CRASH_BIN=${NUBO_CRASH_BIN:-build-crash/src/cmd}
NUBOD=$NUBO_CRASH_BIN/nubod
CRASH_TRACE=$T_DIR/crash-trace

# crash_build_ok: whether this nubod has crash points (prints why not).
crash_build_ok() {
	if [ ! -x "$NUBOD" ]; then
		echo "# $NUBOD missing: configure it with meson setup build-crash -Dcrashpoints=true -Dtests=false"
		return 1
	fi
}

# crash_trace_start [flags]: (re)starts nubod recording every step it passes.
crash_trace_start() {
	nubod_stop
	: >"$CRASH_TRACE"
	NUBO_CRASH_TRACE=$CRASH_TRACE nubod_start "$@"
}

# crash_steps PREFIX: the distinct steps named PREFIX* in the trace, in order.
crash_steps() {
	grep "^$1" "$CRASH_TRACE" 2>/dev/null | awk '!seen[$0]++'
}

# crash_arm STEP [flags]: (re)starts nubod armed to die at STEP (NAME or NAME:N).
crash_arm() {
	local step=$1; shift
	nubod_stop
	NUBO_CRASH_AT=$step nubod_start "$@"
}

# crash_wait_dead SECONDS: waits for the armed nubod to die; 1 if it still runs.
crash_wait_dead() {
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt "$end" ]; do
		if ! kill -0 "$NUBOD_PID" 2>/dev/null; then
			wait "$NUBOD_PID" 2>/dev/null
			NUBOD_PID=
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# crash_restart: starts nubod again, unarmed, after a crash.
crash_restart() {
	nubod_kill9
	nubod_start "$@"
}

# crash_at STEP WHAT REQUEST...: arms STEP, sends the request (api METHOD
# PATH [BODY]), waits for nubod to die there, starts it again and waits for
# the request's operation to end. Its id is left in $op and added to ops.
ops=()
crash_at() {
	local step=$1 what=$2; shift 2
	op=
	crash_arm "$step" || { ok 1 "$what: nubod starts armed at $step"; return 1; }
	local r seq
	seq=$(events_last_seq)
	r=$(api "$@")
	op=$(body_of "$r" | jq -r '.operation.id // empty')
	crash_wait_dead 120
	ok $? "$what: nubod dies at $step"
	crash_restart
	[ -n "$op" ] || op=$(crash_created_op "$seq")
	[ -n "$op" ] || { ok 1 "$what: the request is recorded" "$r"; return 1; }
	ops+=("$op")
	wait_for 180 op_ended "$op"
	ok $? "$what, killed at $step: the operation ends after the restart" "$(op_state "$op")"
}

# qcow2_leak FILE: adds to FILE one cluster its refcounts count but nothing
# references, as a qemu-img killed midway through a write leaves (qemu-img
# check then says "Leaked cluster"; what the file reads is unchanged).
qcow2_leak() {
	python3 - "$1" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    h = f.read(104)
    bits = struct.unpack(">I", h[20:24])[0]
    table = struct.unpack(">Q", h[48:56])[0]
    order = struct.unpack(">I", h[96:100])[0] if struct.unpack(">I", h[4:8])[0] >= 3 else 4
    assert order == 4, "16-bit refcounts expected"
    size = 1 << bits
    f.seek(0, 2)
    k = (f.tell() + size - 1) // size            # the cluster after the file's end
    per_block = size * 8 // 16
    f.seek(table + 8 * (k // per_block))
    block = struct.unpack(">Q", f.read(8))[0]
    assert block, "no refcount block for the new cluster"
    f.seek(k * size)
    f.write(b"\0" * size)
    f.seek(block + 2 * (k % per_block))
    f.write(struct.pack(">H", 1))
PY
}
