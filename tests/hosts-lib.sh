# Three dry-run nubods h1 h2 h3 on one PostgreSQL database, each with its
# own state directory, socket and config ($T_DIR/hN.json, written by the
# script with conf before hstart), for the api scripts of many hosts
# (hosts.sh, hosts-move-*.sh). Sourced after lib.sh; cleans h2 and h3 up on
# exit (h1 is lib.sh's).
T_DESTROY_FLAGS="--dry-run --host-name h1"   # lib.sh's --destroy of h1: its VMs, not another host's

# Each host: 1 vCPU per CPU, type c1 = 1 vCPU, so a host holds nproc VMs of c1.
conf() {   # conf FILE [PLACEMENT]
	cat >"$1" <<EOF
{"cpu_overcommit": 1, "host_down_after_s": 3, "placement": "${2:-spread}",
 "types": [{"name": "c1", "vcpus": 1, "memory_mib": 64}]}
EOF
}

declare -A PID SOCK STATE
SOCK[h1]=$T_SOCK STATE[h1]=$T_STATE
for h in h2 h3; do SOCK[$h]=$T_DIR/$h.sock STATE[$h]=$T_DIR/$h-state; done

# hstart H: starts host H's nubod (h1 through lib.sh's nubod_start).
hstart() {
	local h=$1
	if [ "$h" = h1 ]; then
		nubod_start --dry-run --config "$T_DIR/h1.json" --host-name h1 --advertise 192.0.2.11
		PID[h1]=$NUBOD_PID
		return
	fi
	"$NUBOD" --state-dir "${STATE[$h]}" --socket "${SOCK[$h]}" "${T_DB_FLAGS[@]}" --dry-run \
		--config "$T_DIR/$h.json" --host-name "$h" --advertise "192.0.2.1${h#h}" >>"$T_DIR/$h.log" 2>&1 &
	PID[$h]=$!
	local i
	for i in $(seq 1 100); do
		curl -s --unix-socket "${SOCK[$h]}" http://nubo/v1/types >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "# $h did not start:"; sed 's/^/#   /' "$T_DIR/$h.log"
	return 1
}
hstop() {   # hstop H: SIGTERM, wait
	local h=$1
	if [ "$h" = h1 ]; then nubod_stop; return; fi
	kill "${PID[$h]}" 2>/dev/null
	wait "${PID[$h]}" 2>/dev/null
	PID[$h]=
}
# Clean-up of h2 and h3 (h1 is lib.sh's): their nubods, then --destroy.
cleanup_hosts() {
	local h
	for h in h2 h3; do
		[ -n "${PID[$h]:-}" ] && kill -9 "${PID[$h]}" 2>/dev/null && wait "${PID[$h]}" 2>/dev/null
		[ -d "${STATE[$h]}" ] && "$NUBOD" --state-dir "${STATE[$h]}" --socket "${SOCK[$h]}" "${T_DB_FLAGS[@]}" \
			--dry-run --host-name "$h" --destroy >>"$T_DIR/$h.log" 2>&1
	done
	if [ "$T_FAILED" -gt 0 ]; then
		for h in h2 h3; do echo "# $h log (last 15 lines):"; tail -15 "$T_DIR/$h.log" 2>/dev/null | sed 's/^/#   /'; done
	fi
}
t_on_exit cleanup_hosts

# hapi H METHOD PATH [BODY]: api through host H's socket.
hapi() {
	local h=$1 out; shift
	out=$(curl -s --unix-socket "${SOCK[$h]}" -X "$1" ${3:+-d "$3"} -w '\n%{http_code}' "http://nubo$2")
	printf '%s %s' "${out##*$'\n'}" "${out%$'\n'*}"
}
host_of() { body_of "$(hapi h1 GET "/v1/vms/$1")" | jq -r .host; }
vm_state() { body_of "$(hapi h1 GET "/v1/vms/$1")" | jq -r .state; }
host_state() { body_of "$(hapi h1 GET "/v1/hosts/$1")" | jq -r .state; }
create() {   # create THROUGH NAME [EXTRA JSON FIELDS]: prints the status
	status_of "$(hapi "$1" POST /v1/vms "{\"name\":\"$2\",\"type\":\"c1\"${3:+,$3}}")"
}
delete_all() {
	local v
	for v in $(body_of "$(hapi h1 GET /v1/vms)" | jq -r '.vms[].name'); do hapi h1 DELETE "/v1/vms/$v" >/dev/null; done
	wait_for 20 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/vms | jq '.vms | length')\" = 0 ]"
}
