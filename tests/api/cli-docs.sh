#!/usr/bin/env bash
# api: the examples in docs/cli.md against a real nubo and nubod (dry-run).
#
# Each example block line "$ nubo CMD" is followed by the output the docs
# promise. For the commands listed below, this script runs CMD on a nubod set
# up like the docs' (an image tiny; a VM web1 of type medium made with a key
# file; a volume data on it) and compares:
#   exact   every line, blanks collapsed (type list: the catalogue is fixed)
#   layout  the shape: the keys of "Key: value" lines, table headers and
#           phase names in order, rows of data counted as one (ids, times,
#           addresses and how many VMs there are differ between runs)
# So a changed catalogue or a changed `show` layout fails here until the docs
# follow.
set -u
. "$(dirname "$0")/../lib.sh"
DOC=$(dirname "$0")/../../docs/cli.md

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts"
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "image tiny is built"
ssh-keygen -q -t ed25519 -N "" -C docs -f "$T_DIR/id_ed25519" || exit 1
out=$("$NUBO" vm create web1 --type medium --ssh-key "$T_DIR/id_ed25519.pub" --wait 2>&1)
ok $? "vm web1 is created" "$out"
"$NUBO" volume create data --size 5G --wait >/dev/null 2>&1 && "$NUBO" volume attach data --vm web1 --wait >/dev/null 2>&1
ok $? "volume data is attached to web1"
OP=$("$NUBO" vm show web1 --json | jq -r .operation)
"$NUBO" lb create web --listen 80 --interval 200ms --timeout 100ms >/dev/null 2>&1 &&
	"$NUBO" group create web --type nano --min 1 --max 4 --desired 2 --lb web >/dev/null 2>&1
ok $? "group web is created behind lb web"
group_up() { [ "$("$NUBO" group show web --json | jq -r '"\(.live) \(.healthy)"')" = "2 2" ]; }
wait_for 20 group_up
ok $? "its two VMs are up and healthy"

# shape: one line per line of output, as "layout" compares them.
shape() {
	sed -E 's/[[:space:]]+$//' | awk '
		/^[A-Z][A-Za-z /-]*:( |$)/ { sub(/:.*/, ":"); print "key " $0; row = 0; next }
		/^ *[A-Z][A-Z\/-]+( +[A-Z][A-Z\/-]+)+$/ { $1 = $1; print "header " $0; row = 0; next }
		/^  [a-z-]+ +[0-9.]+s$/ { print "phase " $1; row = 0; next }
		/^$/ { next }
		{ if (!row) print "rows"; row = 1 }'
}
collapse() { sed -E 's/[[:space:]]+/ /g; s/ $//'; }

# The examples: "command<TAB>mode", the command as the docs write it.
checks=$(printf '%s\n' \
	"nubo type list	exact" \
	"nubo vm show web1	layout" \
	"nubo vm list	layout" \
	"nubo image show tiny	layout" \
	"nubo image list	layout" \
	"nubo host show	layout" \
	"nubo host list	layout" \
	"nubo op show op-0a1b2c3d4e5f	layout" \
	"nubo network list	layout" \
	"nubo firewall show default	layout" \
	"nubo volume list	layout" \
	"nubo usage	layout" \
	"nubo budget show	layout" \
	"nubo group show web	layout")

# example CMD: the output docs/cli.md shows after "$ CMD" in an example block.
example() {
	# The first "$ CMD" followed by output: some only show the command.
	awk -v want="\$ $1" '
		/^```/ { if (grab && n) exit; grab = 0; inblk = !inblk; next }
		inblk && grab && /^\$ / { if (n) exit; grab = 0 }
		inblk && grab { print; n++; next }
		inblk && $0 == want { grab = 1 }' "$DOC"
}

while IFS=$'\t' read -r cmd mode; do
	want=$(example "$cmd")
	if [ -z "$want" ]; then
		ok 1 "docs/cli.md has an example of \`$cmd\`"
		continue
	fi
	# The docs' ids stand for the ones this run made.
	run=${cmd/op-0a1b2c3d4e5f/$OP}
	got=$("$NUBO_BIN/${run%% *}" ${run#* } 2>&1)
	if [ "$mode" = exact ]; then
		w=$(printf '%s\n' "$want" | collapse) g=$(printf '%s\n' "$got" | collapse)
	else
		w=$(printf '%s\n' "$want" | shape) g=$(printf '%s\n' "$got" | shape)
	fi
	is "$g" "$w" "docs/cli.md: \`$cmd\` prints what the docs show ($mode)"
	[ "$g" = "$w" ] || diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed 's/^/#   /' | head -30
done <<<"$checks"

echo "1..$T_N"
