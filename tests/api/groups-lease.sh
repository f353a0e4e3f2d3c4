#!/usr/bin/env bash
# api: auto-scaling groups with two nubods on one PostgreSQL database
# (docs/groups.md, docs/cluster.md). Both dry-run nubods, h1 and h2, run the
# group reconciler; each group is acted on by the one holding its lease.
#
#   groups created at once through both hosts get exactly their count of
#   VMs, and keep it while both nubods run (sampled all along); each group's
#   VMs are added by one host only; a scale-out asked through the host that
#   does not hold the lease gets exactly the new count; a holder that stops
#   gives its leases up and the other host takes them at once; a holder
#   killed with -9 keeps them until they lapse (host_down_after_s), then the
#   other host replaces a VM deleted behind the group's back, with no VM too
#   many.
#
# Always on PostgreSQL: in the SQLite api suite it starts a private cluster
# of its own (lib.sh does, with NUBO_TEST_DATABASE=postgres and no
# NUBO_TEST_PG_DIR).
set -u
export NUBO_TEST_DATABASE=postgres
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS="--dry-run --host-name h1"   # lib.sh's --destroy of h1: its VMs, not h2's

# A lease lasts host_down_after_s: 10 s here (renewed every 3 s; a loaded
# machine may hold up a reconciler tick for seconds).
cat >"$T_DIR/conf.json" <<EOF
{"host_down_after_s": 10, "types": [{"name": "c1", "vcpus": 1, "memory_mib": 64}]}
EOF
SOCK2=$T_DIR/h2.sock STATE2=$T_DIR/h2-state PID2=
h2_start() {
	"$NUBOD" --state-dir "$STATE2" --socket "$SOCK2" "${T_DB_FLAGS[@]}" --dry-run --config "$T_DIR/conf.json" \
		--host-name h2 >>"$T_DIR/h2.log" 2>&1 &
	PID2=$!
	local i
	for i in $(seq 1 100); do
		curl -s --unix-socket "$SOCK2" http://nubo/v1/types >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "# h2 did not start:"; sed 's/^/#   /' "$T_DIR/h2.log"
	return 1
}
h2_cleanup() {
	[ -n "$PID2" ] && kill -9 "$PID2" 2>/dev/null && wait "$PID2" 2>/dev/null
	[ -d "$STATE2" ] && "$NUBOD" --state-dir "$STATE2" --socket "$SOCK2" "${T_DB_FLAGS[@]}" --dry-run \
		--host-name h2 --destroy >>"$T_DIR/h2.log" 2>&1
	if [ "$T_FAILED" -gt 0 ]; then echo "# h2 log (last 20 lines):"; tail -20 "$T_DIR/h2.log" | sed 's/^/#   /'; fi
}
t_on_exit h2_cleanup
# hapi H METHOD PATH [BODY]: api through host H's socket
hapi() {
	local sock=$T_SOCK out; [ "$1" = h2 ] && sock=$SOCK2; shift
	out=$(curl -s --unix-socket "$sock" -X "$1" ${3:+-d "$3"} -w '\n%{http_code}' "http://nubo$2")
	printf '%s %s' "${out##*$'\n'}" "${out%$'\n'*}"
}

nubod_start --dry-run --config "$T_DIR/conf.json" --host-name h1 || { ok 1 "h1 starts"; exit 1; }
h2_start || { ok 1 "h2 starts"; exit 1; }
ok 0 "h1 and h2 start on one database"
op=$(body_of "$(hapi h1 POST /v1/images '{"name":"tiny","recipe":"tiny"}')" | jq -r .operation.id)
wait_for 10 op_ended "$op"
is "$(op_state "$op")" succeeded "the tiny image is built (dry-run)"

GROUPS_ALL="ga gb gc gd"
ASK=h1   # the host whose API counts() asks (one that runs)
# VMs per group, as "ga=3 gb=3 …", from the store (through $ASK's API)
counts() {
	body_of "$(hapi $ASK GET '/v1/vms?limit=1000')" | jq -r --arg gs "$GROUPS_ALL" \
		'[($gs | split(" "))[] as $g | "\($g)=\([.vms[] | select(.name | startswith($g + "-"))] | length)"] | join(" ")'
}
# watch SECONDS: the most VMs any group had, sampled every 0.2 s, as "ga=3 gb=3 …"
watch_max() {
	local end=$((SECONDS + $1)) c max=""
	while [ $SECONDS -lt $end ]; do
		c=$(counts)
		max=$(printf '%s\n%s\n' "$max" "$c" | tr ' ' '\n' | grep = | sort -t= -k1,1 -k2,2n |
			awk -F= '{m[$1]=$2} END{for (g in m) printf "%s=%s\n", g, m[g]}' | sort | tr '\n' ' ' | sed 's/ $//')
		sleep 0.2
	done
	printf '%s' "$max"
}
all_at() { [ "$(counts)" = "$(for g in $GROUPS_ALL; do printf '%s=%s ' "$g" "$1"; done | sed 's/ $//')" ]; }
holder() { t_sql "SELECT lease_host FROM scaling_groups WHERE name = '$1'"; }
live_of() { body_of "$(hapi $ASK GET "/v1/groups/$1")" | jq -r '"\(.live) \(.members | length)"'; }

# --- groups made at once through both hosts -------------------------------------------
i=0 reqs=()
for g in $GROUPS_ALL; do
	h=h1; [ $((i % 2)) = 1 ] && h=h2; i=$((i + 1))
	hapi $h POST /v1/groups "{\"name\":\"$g\",\"type\":\"c1\",\"min\":3,\"max\":8}" >"$T_DIR/create-$g" &
	reqs+=($!)
done
wait "${reqs[@]}"
for g in $GROUPS_ALL; do is "$(cut -d' ' -f1 "$T_DIR/create-$g")" 201 "group $g (min 3) is created"; done
wait_for 30 all_at 3
ok $? "every group has 3 VMs ($(counts))"
max=$(watch_max 6)
is "$max" "ga=3 gb=3 gc=3 gd=3" "while both nubods run, no group ever has a VM too many (the most seen over 6 s)"
for g in $GROUPS_ALL; do
	is "$(live_of $g)" "3 3" "group $g: 3 members, all live"
	hold=$(holder $g)
	like "$hold" '^h[12]$' "group $g: its lease is held by one host ($hold)"
	other=h1; [ "$hold" = h1 ] && other=h2
	log=$T_LOG; [ "$other" = h2 ] && log=$T_DIR/h2.log
	n=$(grep -c "group $g: add " "$log")
	is "$n" 0 "group $g: host $other added none of its VMs"
done

# --- a scale-out asked through the host without the lease -------------------------------
hold=$(holder ga)
other=h1; [ "$hold" = h1 ] && other=h2
is "$(status_of "$(hapi $other PATCH /v1/groups/ga '{"desired":6}')")" 200 "ga: desired 6, asked through $other ($hold holds the lease)"
wait_for 20 sh -c "[ \"\$(curl -s --unix-socket $T_SOCK 'http://nubo/v1/vms?limit=1000' | jq '[.vms[] | select(.name | startswith(\"ga-\"))] | length')\" = 6 ]"
ok $? "ga gets its 6 VMs"
is "$(watch_max 3)" "ga=6 gb=3 gc=3 gd=3" "and never a 7th (the most seen over 3 s)"

# --- the holder stops: the other host takes over at once ------------------------------------
# Stop whichever host holds ga's lease; the other must take every lease.
if [ "$hold" = h1 ]; then nubod_stop; else kill "$PID2"; wait "$PID2" 2>/dev/null; PID2=; fi
ok $? "$hold stops cleanly"
took() { for g in $GROUPS_ALL; do [ "$(holder $g)" = "$other" ] || return 1; done; }
wait_for 5 took
ok $? "$other holds every group's lease within 5 s (half a lease: $hold gave them up)"
if [ "$hold" = h1 ]; then
	nubod_start --dry-run --config "$T_DIR/conf.json" --host-name h1
else
	h2_start
fi
ok $? "$hold starts again"

# --- kill -9 of the holder: the other host takes over once the lease lapses -------------------
# A group with a VM on the host that does not hold its lease: that VM is
# deleted while the holder is dead (one on the dead host could be deleted
# only once that host is back). Placement decides where VMs are, so the
# group is looked for, not assumed.
g="" victim=none
for c in $GROUPS_ALL; do
	hold=$(holder $c)
	other=h1; [ "$hold" = h1 ] && other=h2
	victim=$(body_of "$(hapi $other GET '/v1/vms?limit=1000')" | jq -r --arg h "$other" --arg g "$c-" \
		'[.vms[] | select((.name | startswith($g)) and .host == $h) | .name][0] // "none"')
	[ "$victim" != none ] && { g=$c; break; }
done
[ -n "$g" ]
ok $? "a group has a VM on the host without its lease (${g:-none}: $victim on $other, $hold holds it)"
want=$(counts | tr ' ' '\n' | grep "^$g=" | cut -d= -f2)
if [ "$hold" = h1 ]; then nubod_kill9; else kill -9 "$PID2"; wait "$PID2" 2>/dev/null; PID2=; fi
ASK=$other
is "$(status_of "$(hapi $other DELETE "/v1/vms/$victim")")" 202 "$hold is killed (-9); $victim of $g (on $other) is deleted behind the group's back"
gone_and_back() {
	local v; v=$(body_of "$(hapi $ASK GET '/v1/vms?limit=1000')" | jq -r --arg g "$g-" '[.vms[] | select(.name | startswith($g)) | .name] | join(" ")')
	[ "$(wc -w <<<"$v")" = "$want" ] && ! grep -qw "$victim" <<<"$v"
}
wait_for 30 gone_and_back
ok $? "$other replaces it once $hold's lease lapsed: $g has $want VMs, $victim not among them"
is "$(holder $g)" "$other" "$g's lease is $other's now"
is "$(watch_max 3 | tr ' ' '\n' | grep "^$g=")" "$g=$want" "and $g never had one VM too many"
