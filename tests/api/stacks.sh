#!/usr/bin/env bash
# API tests: stacks. plan, apply, destroy and adopt through the nubo CLI
# against a real nubod and store with the host layer in dry-run: plan output
# for create, update, replace, delete and drift; plan's exit codes; an
# idempotent second apply; destroy of only what the stack owns; the lease;
# a stale saved plan; independent steps at once, a dependent one only after
# what it needs, a failure in the middle that the next apply completes;
# every class of bad input, located at file:line:col; and examples/.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run
EXAMPLES=$(cd "$(dirname "$0")/../../examples" && pwd)

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ok $? "the tiny image is built (dry-run)"

F=$T_DIR/shop.yaml
# write_shop RULE_PORT DB_IP [EXTRA_VM]: the shop stack, with what the tests vary
write_shop() {
	cat >"$F" <<YAML
stack: shop
networks:
  shop-back: {cidr: 10.233.0.0/24, nat: false}
firewalls:
  shop-web: {rules: [{proto: tcp, port: $1, from: 0.0.0.0/0}]}
vms:
  shop-db: {type: small, networks: [{network: shop-back, ip: $2}]}
  shop-web: {type: nano, networks: [default, shop-back], firewalls: [shop-web, default],
             user_data: "#!/bin/sh\necho DB=\${vm.shop-db.ip} > /etc/app.env\n"}
${3:-}
YAML
}
plan() { "$NUBO" plan -f "$F" "$@" 2>&1; }

# --- create ------------------------------------------------------------------------
write_shop 80 10.233.0.10
out=$(plan); rc=$?
is "$rc" 2 "plan exits 2 when there are changes"
like "$out" '\+ +network/shop-back +create' "plan shows the network to create"
like "$out" '\+ +vm/shop-db +create' "and the VMs"
like "$out" 'Plan: 4 to create, 0 to update in place, 0 to replace, 0 to delete' "with a summary count"
like "$out" 'Cost: \+0\.0[0-9]+ per hour, \+[0-9.]+ per month' "and the change in cost per hour and month"
# networks, firewalls, then the db before the web VM whose user data names it
is "$(plan --json | jq -r '[.changes[].resource] | join(" ")')" "network/shop-back firewall/shop-web vm/shop-db vm/shop-web" \
	"--json lists the changes in dependency order"
is "$(plan --json | jq -r '.cost.hourly_change > 0')" true "--json gives the cost"
# each step names the earlier steps it waits for: the db its network, the web VM also its firewall and the db
is "$(plan --json | jq -r '.steps as $s | [$s[] | "\(.resource)<\([.after[] | $s[.].resource] | join(","))"] | join(" ")')" \
	"network/shop-back< firewall/shop-web< vm/shop-db<network/shop-back vm/shop-web<network/shop-back,firewall/shop-web,vm/shop-db" \
	"--json gives each step the steps it waits for"

out=$("$NUBO" apply -f "$F" </dev/null 2>&1); rc=$?
is "$rc" 1 "apply without --yes and no terminal refuses"
is "$(api GET /v1/stacks/shop | cut -d' ' -f1)" 404 "and changed nothing"

out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "apply --yes succeeds"
like "$out" 'Apply complete' "and says so"
is "$(t_sql "SELECT user_data FROM vms WHERE name = 'shop-web'")" $'#!/bin/sh\necho DB=10.233.0.10 > /etc/app.env' \
	"\${vm.shop-db.ip} in user data became the db's address"
is "$(body_of "$(api GET /v1/vms/shop-web)" | jq -r '.firewalls | join(",")')" "shop-web,default" "the web VM is in its firewalls"

out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "a second apply succeeds"
like "$out" 'No changes: stack shop is up to date' "and says there is nothing to do"
plan >/dev/null; is $? 0 "plan exits 0 when there are no changes"
is "$(body_of "$(api GET /v1/stacks/shop)" | jq -r '[.resources[] | "\(.kind)/\(.name)"] | sort | join(" ")')" \
	"firewall/shop-web network/shop-back vm/shop-db vm/shop-web" "stack show lists what the stack owns"

# --- update, replace, delete --------------------------------------------------------
write_shop 443 10.233.0.10
out=$(plan); rc=$?
is "$rc" 2 "a changed rule is a change"
like "$out" '~ +firewall/shop-web +update in place' "a firewall's rules change in place"
like "$out" 'rules: .*"port":"80".* → .*"port":"443"' "showing old and new"
"$NUBO" apply -f "$F" --yes >/dev/null 2>&1
is "$(body_of "$(api GET /v1/firewalls/shop-web)" | jq -r '[.rules[].port] | join(",")')" "443" "apply changed the rule in place"

# a new type and a larger disk: a resize, in place (the VM keeps its id)
db_id=$(body_of "$(api GET /v1/vms/shop-db)" | jq -r .id)
sed -i 's/shop-db: {type: small,/shop-db: {type: medium, disk_size: 4G,/' "$F"
out=$(plan)
like "$out" '~ +vm/shop-db +update in place' "a new type and a larger root disk change a VM in place"
like "$out" 'type: "?small"? → "?medium"?' "showing the type's old and new"
like "$out" 'disk_size: (null|"[0-9]+[KMG]") → "4G"$' "and the disk's (null: the image's, whose size a dry-run nubod does not know)"
out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "apply resizes it" "$out"
like "$out" 'vm/shop-db: resizing to medium, disk 4G' "and says so"
is "$(body_of "$(api GET /v1/vms/shop-db)" | jq -r '"\(.id) \(.type)"')" "$db_id medium" "the same VM, now medium"
plan >/dev/null; is $? 0 "then no changes"
sed -i 's/disk_size: 4G,/disk_size: 2G,/' "$F"
like "$(plan)" '-/\+ +vm/shop-db +replace \(forced by disk_size\)' "a smaller root disk cannot be made in place: it replaces"
write_shop 443 10.233.0.10
like "$(plan)" '~ +vm/shop-db +update in place' "leaving disk_size out again compares nothing; the type goes back in place"
"$NUBO" apply -f "$F" --yes >/dev/null 2>&1

write_shop 443 10.233.0.20
out=$(plan)
like "$out" '-/\+ +vm/shop-db +replace \(forced by networks\)' "a new fixed address replaces the VM and says why"
like "$out" '-/\+ +vm/shop-web +replace' "and the VM whose user data names its address is replaced too"
out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc" 0 "apply replaces them" "$out"
is "$(body_of "$(api GET /v1/vms/shop-db)" | jq -r '.nics[0].ip')" "10.233.0.20" "the new db has the new address"
like "$(t_sql "SELECT user_data FROM vms WHERE name = 'shop-web'")" 'DB=10\.233\.0\.20' "and the web VM's user data follows it"

write_shop 443 10.233.0.20 "  shop-extra: {type: nano}"
"$NUBO" apply -f "$F" --yes >/dev/null 2>&1
write_shop 443 10.233.0.20
out=$(plan)
like "$out" '- +vm/shop-extra +delete' "a VM dropped from the file is deleted"
"$NUBO" apply -f "$F" --yes >/dev/null 2>&1
wait_for 10 sh -c "! curl -sf --unix-socket $T_SOCK http://nubo/v1/vms/shop-extra >/dev/null"
ok $? "apply deleted it"

# --- drift --------------------------------------------------------------------------
"$NUBO" vm delete shop-web >/dev/null 2>&1
"$NUBO" firewall rule add shop-web --proto tcp --port 22 >/dev/null 2>&1 ||
	api POST /v1/firewalls/shop-web/rules '{"proto":"tcp","port":22}' >/dev/null
wait_for 10 sh -c "! curl -sf --unix-socket $T_SOCK http://nubo/v1/vms/shop-web >/dev/null"
out=$(plan); rc=$?
is "$rc" 2 "drift is a change to apply"
like "$out" 'Drift: changed outside stack shop' "plan shows drift apart from the changes"
like "$out" '! vm/shop-web: deleted outside the stack' "a VM deleted behind the stack's back is drift"
like "$out" '! firewall/shop-web: changed outside the stack' "so is a rule added behind its back"
like "$out" '\+ +vm/shop-web +create' "apply will make the VM again"
"$NUBO" apply -f "$F" --yes >/dev/null 2>&1
plan >/dev/null; is $? 0 "apply put everything back"
is "$(body_of "$(api GET /v1/firewalls/shop-web)" | jq -r '[.rules[].port] | join(",")')" "443" "the stray rule is gone"

# --- the lease, a stale plan ----------------------------------------------------------
# take the lease as another apply would, with the document the CLI sends
body=$(jq -n --argjson d "$("$NUBO" plan -f "$F" --out "$T_DIR/p0.json" >/dev/null 2>&1; jq .document "$T_DIR/p0.json")" '{document:$d}')
r=$(api POST /v1/stacks/shop/lock "$body")
is "$(status_of "$r")" 200 "a lease can be taken"
lease=$(body_of "$r" | jq -r .lease)
is "$(status_of "$(api POST /v1/stacks/shop/lock "$body")")" 409 "a second lease on the same stack is refused"
write_shop 8443 10.233.0.20
out=$("$NUBO" apply -f "$F" --yes 2>&1); rc=$?
is "$rc" 1 "apply while another holds the lease fails"
like "$out" 'stack shop is being applied by another apply' "and says why"
is "$(body_of "$(api GET /v1/firewalls/shop-web)" | jq -r '[.rules[].port] | join(",")')" "443" "and changed nothing"
is "$(status_of "$(api POST /v1/stacks/shop/unlock '{"lease":"lse-nope"}')")" 409 "only the holder releases the lease"
is "$(status_of "$(api POST /v1/stacks/shop/unlock "{\"lease\":\"$lease\"}")")" 200 "the holder does"

"$NUBO" plan -f "$F" --out "$T_DIR/plan.json" >/dev/null 2>&1
is $? 2 "plan --out saves a plan"
is "$(jq -r '.plan.steps | map(has("after")) | all' "$T_DIR/plan.json")" true "with what each step waits for"
out=$("$NUBO" apply "$T_DIR/plan.json" 2>&1); rc=$?
is "$rc" 0 "apply PLAN.json applies it" "$out"
is "$(body_of "$(api GET /v1/firewalls/shop-web)" | jq -r '[.rules[].port] | join(",")')" "8443" "as planned"
write_shop 9443 10.233.0.20
"$NUBO" plan -f "$F" --out "$T_DIR/stale.json" >/dev/null 2>&1
"$NUBO" vm set-firewall shop-web default >/dev/null 2>&1   # the stack changes behind the saved plan
out=$("$NUBO" apply "$T_DIR/stale.json" 2>&1); rc=$?
is "$rc" 1 "a stale saved plan is refused"
like "$out" 'the saved plan is stale' "and the message says so"
is "$(body_of "$(api GET /v1/firewalls/shop-web)" | jq -r '[.rules[].port] | join(",")')" "8443" "and nothing changed"

# --- adopt, and destroy of only what the stack owns ---------------------------------------
api POST /v1/vms '{"name":"shop-cache","type":"nano"}' >/dev/null
write_shop 9443 10.233.0.20 "  shop-cache: {type: nano}"
out=$(plan); rc=$?
is "$rc" 1 "a file naming a resource the stack does not own is an error"
like "$out" "shop.yaml:[0-9]+:[0-9]+: vms.shop-cache: vm shop-cache exists and is not part of stack shop; adopt it with: nubo stack adopt shop vm/shop-cache" \
	"which says where, and how to adopt it"
"$NUBO" stack adopt shop vm/shop-cache >/dev/null 2>&1
is $? 0 "stack adopt adopts it"
like "$(plan)" '~ +vm/shop-web' "after adopting, the plan has no create for it"
unlike_create=$(plan | grep -c 'vm/shop-cache' || true)
is "$unlike_create" 0 "the adopted VM, as the file says, needs nothing"
"$NUBO" apply -f "$F" --yes >/dev/null 2>&1
api POST /v1/vms '{"name":"bystander","type":"nano"}' >/dev/null
out=$("$NUBO" destroy --stack shop --yes 2>&1); rc=$?
is "$rc" 0 "destroy succeeds" "$out"
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms | jq -e '[.vms[].name] == [\"bystander\"]' >/dev/null"
ok $? "destroy deleted the stack's VMs and only them"
is "$(body_of "$(api GET /v1/networks)" | jq -r '[.networks[] | select(.name=="shop-back" and .state!="deleting")] | length')" 0 "and its network"
is "$(body_of "$(api GET /v1/firewalls)" | jq -r '[.firewalls[].name] | join(",")')" "default" "and its firewall, leaving default"
is "$(status_of "$(api GET /v1/stacks/shop)")" 404 "a destroyed stack is gone from stack list"

# --- independent steps at once; a failure in the middle -----------------------------------
# max_overlap AFTER KIND: the most operations of KIND (create, delete) under way at once,
# from nubod's event log after event AFTER
max_overlap() {
	curl -s --unix-socket "$T_SOCK" "http://nubo/v1/events?after=$1&kind=operation&limit=1000" | jq --arg k "$2" '
		reduce .events[] as $e ({ids: {}, n: 0, max: 0};
			if $e.what == "created (\($k))" then .ids[$e.id] = true | .n += 1 | .max = ([.max, .n] | max)
			elif .ids[$e.id] and ($e.what | test("^state: running→")) then .ids[$e.id] = false | .n -= 1
			else . end) | .max'
}
# seq_of AFTER NAME REGEX: the first event of operations on NAME whose text matches
seq_of() {
	curl -s --unix-socket "$T_SOCK" "http://nubo/v1/events?after=$1&kind=operation&name=$2&limit=1000" |
		jq --arg w "$3" '[.events[] | select(.what | test($w)) | .seq] | first'
}
# last_seq: the newest event's number (paging through the log)
last_seq() {
	local seq=0 next
	while next=$(curl -s --unix-socket "$T_SOCK" "http://nubo/v1/events?after=$seq&limit=1000" | jq .last_seq) &&
		[ "$next" -gt "$seq" ]; do seq=$next; done
	echo "$seq"
}

# par-a takes an address a VM outside the stack holds: it fails, in the middle
api POST /v1/networks '{"name":"par-x","cidr":"10.236.0.0/24"}' >/dev/null
api POST /v1/vms '{"name":"par-blocker","type":"nano","nics":[{"network":"par-x","ip":"10.236.0.10"}]}' >/dev/null
is "$(body_of "$(api GET /v1/vms/par-blocker)" | jq -r '.nics[0].ip')" 10.236.0.10 "a VM outside the stack holds 10.236.0.10"
P=$T_DIR/par.yaml
cat >"$P" <<'YAML'
stack: par
networks:
  par-net: {cidr: 10.235.0.0/24, nat: false}
vms:
  par-b: {type: nano, networks: [par-net]}
  par-d: {type: nano}
  par-e: {type: nano}
  par-a: {type: nano, networks: [{network: par-x, ip: 10.236.0.10}]}
  par-c: {type: nano, user_data: "A=${vm.par-a.ip}"}
YAML
is "$("$NUBO" plan -f "$P" --json | jq -r '.steps as $s | [$s[] | select(.after == []) | .resource] | join(" ")')" \
	"network/par-net vm/par-d vm/par-e vm/par-a" "steps that wait for nothing: the network, par-d, par-e and par-a"
s0=$(last_seq)
out=$("$NUBO" apply -f "$P" --yes 2>&1); rc=$?
is "$rc" 1 "an apply with a step that fails exits 1"
like "$out" '! vm/par-a: failed: .*par\.yaml:8:[0-9]+: vms\.par-a: .*10\.236\.0\.10.* already in use' "the failed step says why as it happens, pointing at the VM in the file"
like "$out" 'apply stopped: 1 step failed' "the summary counts the failure"
like "$out" 'failed: +vm/par-a: ' "and names it"
like "$out" 'done: +network/par-net, vm/par-[bde], vm/par-[bde], vm/par-[bde]' "the steps under way when it failed ran to their end"
like "$out" 'not started: vm/par-c \(after vm/par-a\)' "the step that needs the failed one never started, and the summary says what it waits for"
like "$out" 'run apply again to continue' "and says how to go on"
# par-d and par-e wait for nothing and are asked for at once; each create
# stays open until a reconciler pass ends it (par-b waits for the network,
# so it may come after par-d has ended: not counted on).
n=$(max_overlap "$s0" create)
ok $([ "$n" -ge 2 ]; echo $?) "VMs were created at once (at most $n operations open together in nubod's event log)"
is "$(body_of "$(api GET /v1/vms)" | jq -r '[.vms[].name | select(startswith("par-"))] | sort | join(" ")')" \
	"par-b par-blocker par-d par-e" "nubod has the VMs that succeeded, and neither par-a nor par-c"
is "$(body_of "$(api GET /v1/stacks/par)" | jq -r '[.resources[] | select(.live == "present") | "\(.kind)/\(.name)"] | sort | join(" ")')" \
	"network/par-net vm/par-b vm/par-d vm/par-e" "the stack has exactly what was made"
is "$(body_of "$(api GET /v1/stacks/par)" | jq -r '.resources[] | select(.name == "par-a") | "\(.state) \(.live)"')" \
	"creating missing" "and par-a only as an intent that never came about (the next apply makes it)"
is "$(body_of "$(api GET /v1/stacks/par)" | jq -r .locked)" false "and the lease was released"

out=$("$NUBO" plan -f "$P" 2>&1)
like "$out" 'Plan: 2 to create, 0 to update in place, 0 to replace, 0 to delete' "the next plan holds what is left: par-a and par-c"
"$NUBO" vm delete par-blocker >/dev/null 2>&1
wait_for 10 sh -c "! curl -sf --unix-socket $T_SOCK http://nubo/v1/vms/par-blocker >/dev/null"
s1=$(last_seq)
out=$("$NUBO" apply -f "$P" --yes 2>&1); rc=$?
is "$rc" 0 "a second apply continues from there" "$out"
like "$out" 'Apply complete' "and completes"
a_done=$(seq_of "$s1" par-a 'running→succeeded'); c_start=$(seq_of "$s1" par-c '^created')
ok $([ "$a_done" != null ] && [ "$c_start" != null ] && [ "$c_start" -gt "$a_done" ]; echo $?) \
	"par-c, whose user data names par-a, was created only after par-a's create succeeded (events $a_done, $c_start)"
like "$(t_sql "SELECT user_data FROM vms WHERE name = 'par-c'")" 'A=10\.236\.0\.10' "with par-a's address in its user data"
"$NUBO" plan -f "$P" >/dev/null 2>&1
is $? 0 "the stack is now as the file says"

"$NUBO" destroy --stack par --yes --parallel 0 >/dev/null 2>&1
is $? 2 "--parallel 0 is refused as a usage error"
s2=$(last_seq)
out=$("$NUBO" destroy --stack par --yes --parallel 1 2>&1); rc=$?
is "$rc" 0 "destroy --parallel 1 succeeds" "$out"
like "$out" '6 steps, up to 1 at once' "and runs one step at a time"
is "$(max_overlap "$s2" delete)" 1 "so no two VM deletes overlapped"
api DELETE /v1/networks/par-x >/dev/null

# --- the rest of a VM's fields, volumes; list and show; asking ----------------------------
# ssh_keys, forwards, image and volumes, each: no change once applied, and
# the change the page's reference says (in place or a replace)
r=$(api POST /v1/images '{"name":"flds-img","recipe":"tiny"}')
op=$(body_of "$r" | jq -r .operation.id)
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$op | jq -e '.state==\"succeeded\"' >/dev/null"
ssh-keygen -q -t ed25519 -N "" -C flds -f "$T_DIR/flds_key" || exit 1
KEY=$(cat "$T_DIR/flds_key.pub")
fp1=$((RANDOM % 10000 + 40000)) fp2=$((RANDOM % 10000 + 50000))
Q=$T_DIR/flds.yaml
# write_flds FORWARD IMAGE VOLUME_VM VOLUME_SIZE
write_flds() {
	cat >"$Q" <<YAML
stack: flds
volumes:
  flds-data: {size: $4}
vms:
  flds-a: {type: nano, image: $2, ssh_keys: ["$KEY"], forwards: ["$1"]$([ "$3" = flds-a ] && echo ', volumes: [flds-data]')}
  flds-b: {type: nano$([ "$3" = flds-b ] && echo ', volumes: [flds-data]')}
YAML
}
fplan() { "$NUBO" plan -f "$Q" "$@" 2>&1; }
write_flds "$fp1:80" tiny flds-a 1G
out=$("$NUBO" apply -f "$Q" --yes 2>&1); rc=$?
is "$rc" 0 "a stack with ssh_keys, forwards and a volume applies" "$out"
a_id=$(body_of "$(api GET /v1/vms/flds-a)" | jq -r .id)
# fwds VM: its forwards as HOST:GUEST
fwds() { body_of "$(api GET "/v1/vms/$1/forwards")" | jq -r '[.forwards[] | "\(.host_port):\(.guest_port)"] | join(",")'; }
is "$(t_sql "SELECT ssh_keys FROM vms WHERE name = 'flds-a'") $(fwds flds-a)" "$KEY $fp1:80" "the VM has its key and its forward"
is "$(body_of "$(api GET /v1/volumes/flds-data)" | jq -r .vm)" "flds-a" "and the volume is attached to it"
fplan >/dev/null; is $? 0 "then no changes: a key and a forward as nubod keeps them are as the file wrote them"
write_flds "$fp2:80" tiny flds-a 1G
out=$(fplan)
like "$out" '~ +vm/flds-a +update in place' "a new forward changes the VM in place"
like "$out" "forwards: \\[\"$fp1:80/tcp\"\\] → \\[\"$fp2:80/tcp\"\\]" "showing old and new"
"$NUBO" apply -f "$Q" --yes >/dev/null 2>&1
is "$(body_of "$(api GET /v1/vms/flds-a)" | jq -r .id) $(fwds flds-a)" "$a_id $fp2:80" "apply moved the forward on the same VM"
write_flds "$fp2:80" tiny flds-b 1G
out=$(fplan)
like "$out" '~ +volume/flds-data +update in place' "a volume moved to another VM changes in place"
like "$out" 'vm: "flds-a" → "flds-b"' "showing from which VM to which"
out=$("$NUBO" apply -f "$Q" --yes 2>&1); rc=$?
is "$rc" 0 "apply moves it" "$out"
like "$out" 'volume/flds-data: detaching from flds-a' "detaching it"
like "$out" 'volume/flds-data: attaching to flds-b' "then attaching it"
is "$(body_of "$(api GET /v1/volumes/flds-data)" | jq -r .vm)" "flds-b" "it is on flds-b"
# a VM's firewalls change in place
b_id=$(body_of "$(api GET /v1/vms/flds-b)" | jq -r .id)
sed -i -e 's/^  flds-b: {type: nano/  flds-b: {type: nano, firewalls: [flds-fw]/' -e 's/^vms:$/firewalls: {flds-fw: {}}\nvms:/' "$Q"
out=$(fplan)
like "$out" '~ +vm/flds-b +update in place' "new firewalls change a VM in place"
like "$out" 'firewalls: \["default"\] → \["flds-fw"\]' "showing old and new"
"$NUBO" apply -f "$Q" --yes >/dev/null 2>&1
is "$(body_of "$(api GET /v1/vms/flds-b)" | jq -r '"\(.id) \(.firewalls | join(","))"')" "$b_id flds-fw" "apply set them on the same VM"
write_flds "$fp2:80" tiny flds-b 2G
like "$(fplan)" '-/\+ +volume/flds-data +replace \(forced by size\)' "a new size replaces a volume"
write_flds "$fp2:80" flds-img flds-b 1G
out=$(fplan)
like "$out" '-/\+ +vm/flds-a +replace \(forced by image\)' "a new image replaces a VM, and says why"
out=$("$NUBO" apply -f "$Q" --yes 2>&1); rc=$?
is "$rc" 0 "apply replaces it" "$out"
is "$(body_of "$(api GET /v1/vms/flds-a)" | jq -r '"\(.id != "'"$a_id"'") \(.image)"') $(t_sql "SELECT ssh_keys FROM vms WHERE name = 'flds-a'") $(fwds flds-a)" \
	"true flds-img $KEY $fp2:80" "a new VM, of the new image, with the key and the forward"
fplan >/dev/null; is $? 0 "then no changes"

# stack list and stack show, as a person reads them
out=$("$NUBO" stack list 2>&1)
like "$out" '^NAME +RESOURCES +SERIAL +APPLIED +LOCKED' "nubo stack list has a header"
like "$out" '^flds +3 +[0-9]+ +.+ +no' "and a row per stack: what it owns, and that no apply holds it"
out=$("$NUBO" stack show flds 2>&1)
like "$out" '^Stack: +flds' "nubo stack show names the stack"
like "$out" '^vm +flds-a +vm-[0-9a-f]+ +ready +present' "and lists what it owns, with its id and state"
is "$(grep -cE '^(network|firewall|volume|vm|lb|group) ' <<<"$out")" 3 "every resource it owns, and nothing else"

# apply asks on a terminal: no applies nothing, yes applies
write_flds "$fp1:80" flds-img flds-b 1G
out=$(echo n | script -qec "$NUBO apply -f $Q" /dev/null 2>&1)
like "$out" 'Apply these changes to stack flds\? \[y/N\]' "apply asks on a terminal"
like "$out" 'Nothing was changed' "and answered no, changes nothing"
fplan >/dev/null; is $? 2 "the change is still to make"
out=$(echo y | script -qec "$NUBO apply -f $Q" /dev/null 2>&1)
like "$out" 'Apply complete' "answered yes, it applies"
fplan >/dev/null; is $? 0 "and the stack is as the file says"
"$NUBO" destroy -f "$Q" --yes >/dev/null 2>&1
is "$(status_of "$(api GET /v1/stacks/flds)")" 404 "destroyed"

# --- bad input: every class names file:line:col and changes nothing ------------------------
bad() { # bad DESCRIPTION REGEX <<<YAML
	cat >"$T_DIR/bad.yaml"
	local out rc
	out=$("$NUBO" plan -f "$T_DIR/bad.yaml" 2>&1); rc=$?
	is "$rc" 1 "$1: plan exits 1"
	like "$out" "$2" "$1: the error names file:line:col and the field"
}
bad "YAML syntax" 'bad\.yaml:[34]:[0-9]+: YAML syntax' <<'YAML'
stack: x
vms:
  a: {type: nano
YAML
bad "unknown field" 'bad\.yaml:3:[0-9]+: vms\.a\.tpye: unknown field "tpye"' <<'YAML'
stack: x
vms:
  a: {tpye: nano}
YAML
bad "wrong type" 'bad\.yaml:3:[0-9]+: networks\.n\.nat: must be true or false, not a string' <<'YAML'
stack: x
networks:
  n: {cidr: 10.240.0.0/24, nat: "no"}
YAML
bad "bad reference in user data" 'bad\.yaml:3:[0-9]+: vms\.a\.user_data: \$\{vm\.nope\.ip\}: there is no VM nope' <<'YAML'
stack: x
vms:
  a: {user_data: "DB=${vm.nope.ip}"}
YAML
bad "bad reference to a network" 'bad\.yaml:3:[0-9]+: vms\.a\.networks\[0\]: network "nope" is neither in this stack nor in nubo' <<'YAML'
stack: x
vms:
  a: {networks: [nope]}
YAML
bad "reference cycle" 'bad\.yaml:[34]:[0-9]+: vms\.[ab]\.user_data: reference cycle: vm [ab] → vm [ab] → vm [ab]' <<'YAML'
stack: x
vms:
  a: {user_data: "${vm.b.ip}"}
  b: {user_data: "${vm.a.ip}"}
YAML
bad "unknown machine type" 'bad\.yaml:3:15: vms\.web\.type: unknown machine type "tiny-x"; types: nano' <<'YAML'
stack: x
vms:
  web: {type: tiny-x}
YAML
is "$(body_of "$(api GET /v1/stacks)" | jq '.stacks | length')" 0 "files with errors made no stack"

# --- examples/ -------------------------------------------------------------------------
# web_tier_repair FILE: a web VM of the web tier deleted behind the stack's
# back leaves the balancer with it; apply makes the VM again and the
# balancer's target follows the new VM
web_tier_repair() {
	local old_id new_id out rc
	lb_vm() { body_of "$(api GET /v1/lbs/webtier-lb)" | jq -r '[.targets[] | select(.vm == "webtier-web2") | .vm_id] | join(",")'; }
	old_id=$(body_of "$(api GET /v1/vms/webtier-web2)" | jq -r .id)
	is "$(lb_vm)" "$old_id" "examples/web-tier.yaml: the balancer's target webtier-web2 is VM $old_id"
	"$NUBO" vm delete webtier-web2 --wait >/dev/null 2>&1
	is "$(lb_vm)" "" "deleting webtier-web2 behind the stack's back takes it out of the balancer"
	out=$("$NUBO" plan -f "$1" 2>&1); rc=$?
	is "$rc" 2 "plan has changes"
	like "$out" '\+ +vm/webtier-web2 +create' "plan makes the VM again"
	like "$out" '~ +lb/webtier-lb +update in place' "and puts it back behind the balancer in place"
	is "$("$NUBO" plan -f "$1" --json | jq -r '.steps as $s | .steps[] | select(.resource == "lb/webtier-lb") |
		[.after[] | $s[.].resource] | join(",")')" "vm/webtier-web2" "once the new VM is made"
	out=$("$NUBO" apply -f "$1" --yes 2>&1); rc=$?
	is "$rc" 0 "apply repairs it" "$out"
	new_id=$(body_of "$(api GET /v1/vms/webtier-web2)" | jq -r .id)
	ok $([ "$new_id" != "$old_id" ]; echo $?) "webtier-web2 is a new VM ($old_id → $new_id)"
	is "$(lb_vm)" "$new_id" "and the balancer's target webtier-web2 is the new VM"
	"$NUBO" plan -f "$1" >/dev/null 2>&1
	is $? 0 "then plan has no changes"
}
for ex in "$EXAMPLES"/*.yaml; do
	name=$(basename "$ex")
	out=$("$NUBO" apply -f "$ex" --yes 2>&1); rc=$?
	is "$rc" 0 "examples/$name applies" "$out"
	[ "$name" = web-tier.yaml ] && like "$(t_sql "SELECT user_data FROM vms WHERE name = 'webtier-web1'")" \
		'DB=10\.77\.0\.10' "examples/$name: the web VMs' user data has the database's fixed address"
	out=$("$NUBO" plan -f "$ex" 2>&1)
	ok $? "examples/$name: a second plan has no changes" "$out"
	[ "$name" = web-tier.yaml ] && web_tier_repair "$ex"
	out=$("$NUBO" destroy -f "$ex" --yes 2>&1); rc=$?
	is "$rc" 0 "examples/$name destroys" "$out"
done

echo "1..$T_N"
[ "$T_FAILED" -eq 0 ]
