#!/usr/bin/env bash
# e2e: kill -9 of nubod in the middle of a burst of creates and deletes, on
# whichever engine the run uses (tests/run.sh runs it on SQLite and again on
# a private PostgreSQL cluster, NUBO_TEST_DATABASE=postgres).
#
# Four VMs are asked for at once; then, while they start, two of them are
# deleted and two more asked for, and nubod is killed a random moment (0 to
# 400 ms) into that second burst. The next nubod converges, with nothing lost
# and nothing left over:
#   - every create nubod answered (202) has its VM, unless its delete was
#     answered too; every delete answered has its VM gone;
#   - a VM that is there runs in exactly one QEMU, answers SSH, has its tap;
#   - a VM that is gone has no QEMU, tap, files or DHCP reservation;
#   - no QEMU, tap or VM folder of this nubod belongs to no VM in the store;
#   - no operation is left running, and every qcow2 is sound.
set -u
. "$(dirname "$0")/../lib.sh"

engine=sqlite
[ ${#T_DB_FLAGS[@]} -gt 0 ] && engine=postgres
nubod_start || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts on $engine"
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "the tiny image builds"
prefix=$(t_sql "select value from meta where key='host_prefix'")
ssh-keygen -q -t ed25519 -N "" -C e2e -f "$T_DIR/id" || exit 1
key=$(jq -n --arg k "$(cat "$T_DIR/id.pub")" --arg f "$T_DIR/id.pub" '{ssh_keys: [$k], ssh_key_file: $f}')

# create NAME / delete NAME in the background; the code nubod answered (000:
# no answer, nubod died first) lands in $T_DIR/NAME.create or .delete.
ask() { # VERB NAME
	local code
	if [ "$1" = create ]; then
		code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T_SOCK" -X POST \
			-d "$(jq -c --arg n "$2" '. + {name: $n, type: "nano"}' <<<"$key")" http://nubo/v1/vms)
	else
		code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T_SOCK" -X DELETE "http://nubo/v1/vms/$2")
	fi
	printf '%s' "$code" >"$T_DIR/$2.$1"
}
answered() { [ "$(cat "$T_DIR/$2.$1" 2>/dev/null)" = 202 ]; }

pids=()
for n in b1 b2 b3 b4; do ask create $n & pids+=($!); done
wait "${pids[@]}"
for n in b1 b2 b3 b4; do
	answered create $n
	ok $? "the create of $n is accepted before the kill"
done

pids=()
ask delete b1 & pids+=($!)
ask delete b2 & pids+=($!)
ask create b5 & pids+=($!)
ask create b6 & pids+=($!)
delay_ms=$((RANDOM % 400))
sleep "$(printf '0.%03d' "$delay_ms")"
nubod_kill9
wait "${pids[@]}"
echo "# nubod killed $delay_ms ms into the second burst; answers:" \
	"$(for f in "$T_DIR"/b*.create "$T_DIR"/b*.delete; do printf '%s=%s ' "$(basename "$f")" "$(cat "$f")"; done)"

nubod_start
ok $? "nubod starts again after the kill"

# What must be there: every answered create not deleted by an answered delete.
# A request that got no answer may have been recorded or not; either way the
# store decides, and the host must follow the store.
want=() gone=()
for n in b1 b2 b3 b4 b5 b6; do
	if answered delete $n; then gone+=($n); elif answered create $n; then want+=($n); fi
done
names() { "$NUBO" vm list --json | jq -r '[.vms[].name] | sort | join(" ")'; }
settled() { # every VM running with SSH ready, none shutting down, no running op
	local list
	list=$("$NUBO" vm list --json) || return 1
	[ "$(jq '[.vms[] | select(.state != "running")] | length' <<<"$list")" = 0 ] || return 1
	[ "$(t_sql "select count(*) from operations where state='running'")" = 0 ]
}
wait_for 420 settled
ok $? "the VMs converge: all running, no operation left running" \
	"$("$NUBO" vm list 2>&1; t_sql "select kind, target_name, state from operations where state='running'")"
have=" $(names) "
for n in "${want[@]}"; do
	case $have in *" $n "*) ok 0 "$n, whose create was answered, is there" ;;
	*) ok 1 "$n, whose create was answered, is there" "VMs: $have" ;; esac
done
for n in "${gone[@]}"; do
	case $have in *" $n "*) ok 1 "$n, whose delete was answered, is gone" "VMs: $have" ;;
	*) ok 0 "$n, whose delete was answered, is gone" ;; esac
done

# The host follows the store.
list=$("$NUBO" vm list --json)
ids=$(jq -r '.vms[].id' <<<"$list")
for id in $ids; do
	name=$(jq -r --arg id "$id" '.vms[] | select(.id == $id) | .name' <<<"$list")
	is "$(pgrep -f -c -- "-name $id( |$)")" 1 "$name runs in exactly one QEMU"
	ip link show "nt$prefix${id:3:6}" >/dev/null 2>&1
	ok $? "$name's tap is on the host"
	out=$("$NUBO" vm ssh "$name" -- hostname 2>&1)
	is "$out" "$name" "$name answers over SSH"
done
stray_qemu=$(pgrep -a -f -- "$T_STATE/vms/" | grep -o -- '-name [^ ,]*' | awk '{print $2}' | sort -u |
	grep -vxF -f <(printf '%s\n' $ids) || true)
is "$stray_qemu" "" "no QEMU of this nubod runs for a VM the store does not hold"
stray_taps=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^nt$prefix" |
	grep -vxF -f <(for id in $ids; do echo "nt$prefix${id:3:6}"; done) || true)
is "$stray_taps" "" "no tap of this nubod belongs to no VM"
stray_dirs=$(ls "$T_STATE/vms" | grep -vxF -f <(printf '%s\n' $ids) || true)
is "$stray_dirs" "" "no VM folder belongs to no VM"
reservations=$(cat "$T_STATE"/networks/*/hosts 2>/dev/null | wc -l)
is "$reservations" "$(echo $ids | wc -w)" "one DHCP reservation per VM, none for the deleted"
is "$(chains_ok)" "" "every qcow2 is sound, with its backing chain"

out=$(for n in $("$NUBO" vm list --json | jq -r '.vms[].name'); do "$NUBO" vm delete "$n" --wait; done 2>&1)
wait_for 60 sh -c "[ \"\$($NUBO vm list --json | jq '.vms | length')\" = 0 ]"
ok $? "every VM deletes" "$out"
[ -z "$(pgrep -f -- "$T_STATE/vms/")" ]
ok $? "no QEMU is left"
nubod_stop
ok $? "nubod exits cleanly"
