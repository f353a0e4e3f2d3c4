#!/usr/bin/env bash
# nubod as a systemd service, without systemd: what the unit relies on.
#   - Type=notify: nubod sends READY=1 to $NOTIFY_SOCKET once its API
#     answers, and STOPPING=1 when it stops (a socat datagram listener
#     stands in for systemd);
#   - the journal: when stderr is the stream JOURNAL_STREAM names, every
#     line starts with its syslog priority ("<6>" info, "<4>" warning) and
#     carries no timestamp of its own; elsewhere lines keep the timestamp.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

notify=$T_DIR/notify.sock
: >"$T_DIR/notify.out"
socat -u UNIX-RECV:"$notify" OPEN:"$T_DIR/notify.out",append &
T_BG_PIDS+=($!)
wait_for 5 test -S "$notify"
: >"$T_LOG"
journal=$(stat -c '%d:%i' "$T_LOG")

NOTIFY_SOCKET=$notify JOURNAL_STREAM=$journal nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts with NOTIFY_SOCKET and JOURNAL_STREAM set"

# READY=1 comes after the socket answers (nubod_start waited for that), so
# it is there already or about to be.
wait_for 5 grep -qx 'READY=1' "$T_DIR/notify.out"
ok $? "nubod tells the service manager READY=1" "$(cat "$T_DIR/notify.out")"
like "$(cat "$T_DIR/notify.out")" '^STATUS=serving the API$' "the READY message carries a STATUS line"

nubod_stop
ok $? "nubod exits cleanly on SIGTERM"
wait_for 5 grep -qx 'STOPPING=1' "$T_DIR/notify.out"
ok $? "nubod tells the service manager STOPPING=1 when it stops" "$(cat "$T_DIR/notify.out")"

like "$(grep 'ready' "$T_LOG")" '^<6>nubod [0-9.]+ ready' "in the journal, the ready line has priority 6 (info) and no timestamp"
ok "$(grep -c '^20[0-9][0-9]-' "$T_LOG")" "in the journal, no line carries nubod's own timestamp" "$(grep '^20' "$T_LOG" | head -3)"
ok "$(grep -vc '^<[0-7]>' "$T_LOG")" "in the journal, every line starts with a priority" "$(grep -v '^<[0-7]>' "$T_LOG" | head -3)"

# A warning: a TLS key that others may read is said as a warning.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-keyout "$T_DIR/tls.key" -out "$T_DIR/tls.pem" >/dev/null 2>&1
chmod 644 "$T_DIR/tls.key"
port=$(for p in $(shuf -i 20000-60000 -n 100); do ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; break; }; done)
: >"$T_LOG"
JOURNAL_STREAM=$journal nubod_start --dry-run --listen "127.0.0.1:$port" --tls-cert "$T_DIR/tls.pem" \
	--tls-key "$T_DIR/tls.key" || ok 1 "nubod starts with a TLS listener"
nubod_stop
like "$(grep 'can be read by other users' "$T_LOG")" '^<4>api: the private key' \
	"in the journal, a warning (a key others can read) has priority 4"

# Stderr that is not the journal stream (another file): timestamps as before.
: >"$T_LOG"
JOURNAL_STREAM=0:0 nubod_start --dry-run || ok 1 "nubod starts a third time"
nubod_stop
like "$(grep 'ready' "$T_LOG")" '^20[0-9-]+T[0-9:.]+Z INFO  nubod' "elsewhere, lines keep their timestamp and level name"

echo "1..$T_N"
