#!/usr/bin/env bash
# e2e: an upgrade keeps everything. A nubod of an earlier commit (by default
# the parent of the last commit that changed the schema, so a migration
# runs; NUBO_UPGRADE_FROM=REV picks another) makes VMs, a volume attached
# to one of them and a snapshot; then this tree's nubod takes over the same
# state directory, as the package's restart after an upgrade does. It must
# adopt the running QEMUs (same pids), migrate the schema, and keep every
# resource; the VMs still answer SSH and keep the data written before.
# Then a downgrade: a store whose schema is newer than nubod knows is
# refused with a sentence that says so, and nothing is touched.
set -u
. "$(dirname "$0")/../lib.sh"
NEW_NUBOD=$NUBOD NEW_NUBO=$NUBO
REPO=$(cd "$(dirname "$0")/../.." && pwd)

if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ]; then
	echo "1..0 # skip: needs root and /dev/net/tun"
	exit 0
fi
if ! git -C "$REPO" rev-parse --verify -q HEAD >/dev/null; then
	echo "1..0 # skip: needs the git history to build an earlier nubod"
	exit 0
fi

# steps REV: REV's migration numbers, one per line, in order.
steps() {
	git -C "$REPO" show "$1:src/store/migrations.c" 2>/dev/null | grep -oE '^[[:space:]]*\{[0-9]+,' | tr -dc '0-9\n' |
		sort -n
}
# The default: the newest commit whose steps are the first steps of this
# tree's, fewer of them, so that the new nubod has a migration to run. (A
# store remembers only its newest step: a commit of a branch that added
# step 19 before step 18 was merged is no release to upgrade from.)
if [ -z "${NUBO_UPGRADE_FROM:-}" ]; then
	here=$(steps HEAD)
	for c in $(git -C "$REPO" log --format=%H -- src/store/migrations.c); do
		old=$(steps "$c~1")
		[ -n "$old" ] && [ "$old" != "$here" ] && [ "$(head -n "$(wc -l <<<"$old")" <<<"$here")" = "$old" ] &&
			{ from=$c~1; break; }
	done
fi
from=$(git -C "$REPO" rev-parse --short "${NUBO_UPGRADE_FROM:-${from:-HEAD~1}}")
echo "# upgrading from $from ($(git -C "$REPO" log -1 --format=%s "$from" | cut -c1-60))"
# The old tree from git itself (no worktree to register), built without
# tests: nubod and nubo only (the web console's bundle needs node_modules,
# which an archive does not hold, and an upgrade does not need).
mkdir -p "$T_DIR/old"
git -C "$REPO" archive "$from" | tar -x -C "$T_DIR/old"
(meson setup "$T_DIR/old-build" "$T_DIR/old" -Dtests=false && ninja -C "$T_DIR/old-build" src/cmd/nubod src/cmd/nubo) \
	>"$T_DIR/old-build.log" 2>&1
ok $? "the nubod of $from builds" "$(tail -20 "$T_DIR/old-build.log")"
OLD_NUBOD=$T_DIR/old-build/src/cmd/nubod OLD_NUBO=$T_DIR/old-build/src/cmd/nubo
[ -x "$OLD_NUBOD" ] || { echo "1..$T_N"; exit 1; }

# The old release makes the resources, with its own CLI.
NUBOD=$OLD_NUBOD NUBO=$OLD_NUBO
nubod_start || { ok 1 "the old nubod starts"; echo "1..$T_N"; exit 1; }
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "old: the tiny image builds"
for vm in up1 up2; do
	out=$("$NUBO" vm create $vm --type nano --wait 2>&1)
	ok $? "old: VM $vm starts" "$out"
done
"$NUBO" volume create data --size 64M --wait >/dev/null 2>&1 && "$NUBO" volume attach data --vm up1 --wait >/dev/null 2>&1
ok $? "old: a volume made and attached to up1"
"$NUBO" vm ssh up1 -- 'echo before-upgrade > /root/f && sync' 2>>"$T_DIR/ssh.err"
ok $? "old: up1 answers SSH and keeps a file"
"$NUBO" vm ssh up2 -- 'echo in-snapshot > /root/s && sync' 2>>"$T_DIR/ssh.err"
ok $? "old: up2 keeps a file"
out=$("$NUBO" snapshot create up2 --name snap1 --wait 2>&1)
ok $? "old: a snapshot of the running up2" "$out"
"$NUBO" vm ssh up2 -- 'echo after-snapshot > /root/s && sync' 2>>"$T_DIR/ssh.err"
ok $? "old: up2 changes the file after the snapshot"
old_version=$(sqlite3 "$T_STATE/nubo.db" 'PRAGMA user_version')
# What must survive: every resource as the API shows it, minus what moves on its own.
dump() {
	for r in vms volumes snapshots networks firewalls images; do
		curl -s --unix-socket "$T_SOCK" "http://nubo/v1/$r" |
			jq -S --arg r "$r" '.[$r] | map(del(.age, .operation, .boot_phases, .state_since, .revision, .rev)
				| {id, name, state, pid, ip, size_bytes, attached_to, vm, parent, cidr})
				| sort_by(.name)'
	done
}
dump >"$T_DIR/before.json"
nubod_stop
ok $? "old nubod stops cleanly (SIGTERM, as systemctl stop does)"
pids=$(jq -r '.[]? | select(.pid != null) | .pid' "$T_DIR/before.json" | xargs)
alive=0
for p in $pids; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
is "$alive" 2 "both QEMUs run on with no nubod"

# The new nubod takes over.
NUBOD=$NEW_NUBOD NUBO=$NEW_NUBO
nubod_start || { ok 1 "the new nubod starts on the old state"; echo "1..$T_N"; exit 1; }
ok 0 "the new nubod starts on the old state"
new_version=$(sqlite3 "$T_STATE/nubo.db" 'PRAGMA user_version')
echo "# schema: $old_version before, $new_version after"
is "$new_version" "$(steps HEAD | tail -n 1)" "the store is migrated to this tree's schema ($old_version → $new_version)"
wait_for 30 sh -c "[ \"\$('$NUBO' vm list --json | jq '[.vms[] | select(.state == \"running\")] | length')\" = 2 ]"
ok $? "both VMs are running under the new nubod"
dump >"$T_DIR/after.json"
diff -u "$T_DIR/before.json" "$T_DIR/after.json" >"$T_DIR/diff"
ok $? "every VM, volume, snapshot, network, firewall and image is as before (ids, states, QEMU pids, addresses)" "$(cat "$T_DIR/diff")"
is "$("$NUBO" vm ssh up1 -- cat /root/f 2>>"$T_DIR/ssh.err")" before-upgrade "up1 answers SSH and still has its file"
is "$("$NUBO" vm ssh up2 -- echo alive 2>>"$T_DIR/ssh.err")" alive "up2 answers SSH"
is "$("$NUBO" volume show data --json | jq -r '.state + " " + (.vm // "")')" "in-use up1" \
	"the volume is still attached to up1"
out=$("$NUBO" vm stop up2 --wait 2>&1) && out=$("$NUBO" vm restore up2 --snapshot snap1 --wait 2>&1) &&
	out=$("$NUBO" vm start up2 --wait 2>&1)
ok $? "the old snapshot restores under the new nubod" "$out"
is "$("$NUBO" vm ssh up2 -- cat /root/s 2>>"$T_DIR/ssh.err")" in-snapshot "up2 holds what it held when the old nubod took the snapshot"
grep -q "ERROR" "$T_LOG"
ok $((! $?)) "no ERROR in the new nubod's log" "$(grep ERROR "$T_LOG" | head -5)"

# A downgrade: the store's schema newer than this nubod knows.
pids=$(t_sql 'SELECT pid FROM vms WHERE pid > 0' | xargs)
nubod_stop
newest=$new_version
sqlite3 "$T_STATE/nubo.db" "PRAGMA user_version = $((newest + 1))"
sum=$(md5sum <"$T_STATE/nubo.db")
out=$(timeout 30 "$NUBOD" --state-dir "$T_STATE" --socket "$T_SOCK" 2>&1)
is "$?" 1 "a nubod older than the store's schema refuses to start"
like "$out" "schema is at version $((newest + 1)), newer than this nubod \\([0-9.]+\\) knows \\($newest\\).*cannot be downgraded" \
	"it says why, with both versions" 
is "$(md5sum <"$T_STATE/nubo.db")" "$sum" "the store is untouched"
alive=0
for p in $pids; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
is "$alive" 2 "the VMs run on"
# The old nubod itself on the migrated store: only releases that have the
# refusal (since 454ae68) can refuse; older ones would start on it.
if [ "$old_version" -lt "$newest" ] && grep -q "newer than this nubod" "$T_DIR/old/src/store/migrations.c"; then
	sqlite3 "$T_STATE/nubo.db" "PRAGMA user_version = $newest"
	out=$(timeout 30 "$OLD_NUBOD" --state-dir "$T_STATE" --socket "$T_SOCK" 2>&1)
	is "$?" 1 "the old nubod refuses the migrated store"
	like "$out" "newer than this nubod" "... and says why"
else
	echo "# the old nubod ($from) predates the refusal of newer schemas: not run on the migrated store"
fi
sqlite3 "$T_STATE/nubo.db" "PRAGMA user_version = $newest"   # for t_cleanup's --destroy

echo "1..$T_N"
