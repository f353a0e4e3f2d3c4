#!/usr/bin/env bash
# api: docs/stacks.md against a real nubo and nubod (dry-run), so that what
# the page shows is what nubo prints:
# - the shop.yaml example, planned on a nubod whose images tiny and
#   debian-12 have the sizes their recipes give them (images/*/build.sh) and
#   whose prices are the defaults: `nubo plan -f shop.yaml` prints exactly
#   the page's output, its cost figures included;
# - `nubo apply -f shop.yaml --yes`: the page's count of steps, and each
#   resource's progress lines as the page shows them (times and addresses
#   aside: they differ between runs); and so for the page's apply with a
#   step that fails, with its closing summary word for word;
# - each error the page shows is what nubo says, file:line:col included, for
#   the shop.yaml changed as the error's field says;
# - every field a stack file takes (each section's "unknown field" error
#   lists them) is in the page's reference.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DOC=$ROOT/docs/stacks.md
NUBO=$(realpath "$NUBO")   # the examples run where their file is

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"

# The images the example names, each a disk of its recipe's size: a plan's
# cost counts a VM's root disk at the image's size.
for img in tiny debian-12; do
	size=$(sed -n 's/^DISK_SIZE=//p' "$ROOT/images/$img/build.sh")
	qemu-img create -q -f qcow2 "$T_DIR/$img.qcow2" "$size"
	r=$(api POST /v1/images "{\"name\":\"$img\",\"file\":\"$T_DIR/$img.qcow2\"}")
	op=$(body_of "$r" | jq -r .operation.id)
	wait_for 30 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
	is "$(body_of "$(api GET /v1/images/$img)" | jq -r .virtual_size_bytes)" "$(numfmt --from=iec "$size")" \
		"image $img is there, of its recipe's size ($size)"
done

# block_after LINE [N]: the lines of a fenced block after the Nth (default
# first) line LINE (an opening fence, or a "$ CMD" inside a block), up to
# the next "$ " or fence.
block_after() {
	awk -v want="$1" -v nth="${2:-1}" '
		/^```/ { if (grab) exit; inblk = !inblk; if (inblk && $0 == want && ++seen == nth) grab = 1; next }
		inblk && grab && /^\$ / { exit }
		inblk && grab { print; next }
		inblk && $0 == want && ++seen == nth { grab = 1 }' "$DOC"
}
# mask: times and addresses differ between runs
mask() { sed -E 's/[0-9]+\.[0-9]+s/Ts/g; s/[0-9]+(\.[0-9]+){3}/IP/g'; }
# same_progress WANT GOT WHAT: for each resource of the page's progress
# lines (WANT), those lines are the first of the run's (GOT) for it
same_progress() {
	local res w g
	for res in $(grep -oE '^  [+=!-] [a-z]+/[a-z0-9-]+:' <<<"$1" | awk '{print $2}' | tr -d : | sort -u); do
		w=$(grep -E "^  .? ?$res: " <<<"$1" | mask)
		g=$(grep -E "^  .? ?$res: " <<<"$2" | mask | head -n "$(wc -l <<<"$w")")
		is "$g" "$w" "docs/stacks.md: $3: the progress lines of $res are the page's"
	done
}

# --- the example and its plan ------------------------------------------------------------
block_after '```yaml' >"$T_DIR/shop.yaml"
like "$(head -1 "$T_DIR/shop.yaml")" '^stack: shop$' "docs/stacks.md opens with the shop.yaml example"
want=$(block_after '$ nubo plan -f shop.yaml')
got=$(cd "$T_DIR" && "$NUBO" plan -f shop.yaml 2>&1)
is "$got" "$want" "docs/stacks.md: \`nubo plan -f shop.yaml\` prints what the page shows, cost figures included"
# the figures, worked out from the prices: small and nano, and their disks
# at the default disk price (0.0001 per GiB-hour)
types=$(body_of "$(api GET /v1/types)")
hourly=$(jq -n --argjson t "$types" \
	'[$t.types[] | select(.name == "small" or .name == "nano") | .price_per_hour] | add + (2 + 1) * 0.0001')
like "$got" "^Cost: \\+$(printf '%.4f' "$hourly") per hour, \\+$(printf '%.2f' "$(jq -n "$hourly * 730")") per month" \
	"which are a small VM and a nano VM, and 3 GiB of disks, for an hour and for 730 hours"

# --- apply ---------------------------------------------------------------------------------
want=$(block_after '$ nubo apply -f shop.yaml --yes')
got=$(cd "$T_DIR" && "$NUBO" apply -f shop.yaml --yes 2>&1)
ok $? "apply -f shop.yaml --yes succeeds" "$got"
is "$(grep -E '^[0-9]+ steps?, up to' <<<"$got")" "$(grep -E '^[0-9]+ steps?, up to' <<<"$want")" \
	"docs/stacks.md: apply's count of steps is the page's"
is "$(tail -1 <<<"$got")" "$(tail -1 <<<"$want")" "and its last line"
same_progress "$want" "$got" "apply"
"$NUBO" destroy --stack shop --yes >/dev/null 2>&1
ok $? "the stack is destroyed"

# --- a step that fails ----------------------------------------------------------------------
# as the page tells it: shop's network applied before, and a VM outside the
# stack, cache, holding the address the file fixes for db
printf 'stack: shop\nnetworks:\n  backend: {cidr: 10.30.0.0/24, nat: false}\n' >"$T_DIR/net.yaml"
"$NUBO" apply -f "$T_DIR/net.yaml" --yes >/dev/null 2>&1
ok $? "shop's network is applied"
r=$(api POST /v1/vms '{"name":"cache","type":"nano","nics":[{"network":"backend","ip":"10.30.0.10"}]}')
is "$(status_of "$r")" 202 "a VM cache outside the stack takes 10.30.0.10 on it"
want=$(block_after '$ nubo apply -f shop.yaml --yes' 2)
got=$(cd "$T_DIR" && "$NUBO" apply -f shop.yaml --yes 2>&1)
is "$?" 1 "apply exits 1"
is "$(grep -E '^[0-9]+ steps?, up to' <<<"$got")" "$(grep -E '^[0-9]+ steps?, up to' <<<"$want")" \
	"docs/stacks.md: the failed apply's count of steps is the page's"
same_progress "$want" "$got" "a failed apply"
is "$(sed -n '/^nubo: apply stopped/,$p' <<<"$got")" "$(sed -n '/^nubo: apply stopped/,$p' <<<"$want")" \
	"docs/stacks.md: what the failed apply says at its end is the page's"
api DELETE /v1/vms/cache >/dev/null
wait_for 10 sh -c "! curl -sf --unix-socket $T_SOCK http://nubo/v1/vms/cache >/dev/null"
"$NUBO" destroy --stack shop --yes >/dev/null 2>&1
ok $? "the stack is destroyed"

# --- errors ----------------------------------------------------------------------------------
# Each line of the page's Errors block, and how shop.yaml is changed to get it.
errors=$(awk '/^## Errors/ { on = 1 } on && /^```/ { if (blk) exit; blk = 1; next } on && blk' "$DOC")
[ -n "$errors" ]
ok $? "docs/stacks.md has an Errors block"
mkdir -p "$T_DIR/bad"
while IFS= read -r line; do
	case $line in
	*vms.web.type:*) change='s/web: \{type: nano/web: {type: tiny-x/' ;;
	*networks.backend.nat:*) change='s/nat: false/nat: "no"/' ;;
	*vms.web.tpye:*) change='s/web: \{type:/web: {tpye:/' ;;
	*"YAML syntax"*) change='3s/\}$//' ;;
	*) ok 1 "docs/stacks.md: the error \"$line\" is one this test knows how to make"; continue ;;
	esac
	sed -E "$change" "$T_DIR/shop.yaml" >"$T_DIR/bad/shop.yaml"
	got=$(cd "$T_DIR/bad" && "$NUBO" plan -f shop.yaml 2>&1)
	rc=$?
	# the page cuts a long list with "…": what comes before it must match
	prefix=${line%…}
	ok $([ $rc = 1 ] && [ "${got#nubo: }" != "$got" ] && [ "${got#"nubo: $prefix"}" != "$got" ] &&
		{ [ "$prefix" != "$line" ] || [ "$got" = "nubo: $line" ]; }; echo $?) \
		"docs/stacks.md: \"$line\" is what plan says" "got: $got"
done <<<"$errors"

# --- the reference: every field a stack file takes ---------------------------------------------
# fields_of YAML: the fields nubo lists when the YAML has an unknown one
fields_of() {
	printf '%s\n' "$1" >"$T_DIR/fields.yaml"
	"$NUBO" plan -f "$T_DIR/fields.yaml" 2>&1 | sed -n 's/.* has: //p' | tr -d ' ' | tr ',' '\n'
}
for probe in "stack: x\nnope: 1" "stack: x\nnetworks: {n: {nope: 1}}" "stack: x\nfirewalls: {f: {nope: 1}}" \
	"stack: x\nfirewalls: {f: {rules: [{nope: 1}]}}" "stack: x\nvolumes: {v: {nope: 1}}" "stack: x\nvms: {a: {nope: 1}}" \
	"stack: x\nvms: {a: {networks: [{nope: 1}]}}" "stack: x\nlbs: {l: {nope: 1}}" "stack: x\ngroups: {g: {nope: 1}}"; do
	yaml=$(printf '%b' "$probe")
	fields=$(fields_of "$yaml")
	[ -n "$fields" ]
	ok $? "nubo lists the fields of: ${yaml#*$'\n'}"
	missing=
	for f in $fields; do
		grep -qE "\`$f(\`|: )|[{,] ?$f: " "$DOC" || missing="$missing $f"
	done
	is "${missing# }" "" "docs/stacks.md names each of them: $(echo $fields)"
done

echo "1..$T_N"
[ "$T_FAILED" -eq 0 ]
