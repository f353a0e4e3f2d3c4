# Shared by the cluster suite (tests/cluster/*.sh): a cloud of three hosts
# on one machine, on one private PostgreSQL (docs/cluster.md).
#
# Each host h1 h2 h3 is a network namespace with its own underlay address
# (eth0, 198.18.X.1N/24) on one bridge of the root namespace (198.18.X.1,
# the hosts' way out and a stand-in for the uplink), its own state
# directory, its own nubod (run inside the namespace with --database,
# --host-name and --advertise), so its bridges, taps, vxlan devices,
# nftables tables, dnsmasq and metadata listeners are its own. Each nubod's
# API is its unix socket, which the test reaches from the root namespace.
#
# A script sources this, then calls cl_setup and cl_start_all:
#
#   cl_start H / cl_stop H / cl_kill9 H    one host's nubod
#   capi H METHOD PATH [BODY]              "STATUS BODY" through H's API
#   cnubo H ARGS…                          the nubo CLI against H's API
#   cin H COMMAND…                         COMMAND inside H's namespace
#   cl_image_tiny                          builds tiny on h1 and copies its
#                                          files to h2 and h3
#   cl_vm H NAME ARGS…                     nubo vm create NAME --type nano
#                                          (ssh key, ARGS) through H's API
#   cl_on VM COMMAND                       COMMAND in VM over SSH, from its
#                                          own host's namespace
#   cl_link_down H / cl_link_up H          cuts H's underlay link / restores it
#
# Names (namespaces, links) carry a tag unique to the run and the underlay
# /24 is one no route of the machine covers, so runs beside others never
# collide. Everything is removed on exit, even on failure: the nubods
# (after --destroy inside each namespace: VMs, dnsmasq, cgroups, files), any
# QEMU left, the namespaces with their links, the bridge, the database (or
# the private PostgreSQL, by lib.sh).
set -u
export NUBO_TEST_DATABASE=postgres
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CL_HOSTS="h1 h2 h3"
CL_TAG=$(printf '%04x' $(((RANDOM ^ $$) & 0xffff)))
CL_BR=ncb$CL_TAG
CL_NET=
declare -A CL_NS CL_ADDR CL_STATE CL_SOCK CL_LOG CL_PID CL_VETH CL_CONF

# CL_CONFIG: extra settings for every host's nubod.json, set before
# cl_setup (e.g. CL_CONFIG='"cpu_overcommit": 1'); host_down_after_s is 6.
CL_CONFIG=${CL_CONFIG:-}
# CL_TLS=1: each nubod also serves its API over TLS on its underlay address
# (--listen ADDR:CL_TLS_PORT, a self-signed certificate of its own), where
# the other hosts fetch its files (images, moving VMs) as on separate
# servers: they trust it by its key's pin in the store.
CL_TLS=${CL_TLS:-}
CL_TLS_PORT=8443

cl_pick_net() {
	local x try
	for try in $(seq 1 60); do
		x=$((RANDOM % 250 + 2))
		if ! ip -4 route show table all | grep -q "198\.18\.$x\." && ! ip -4 addr | grep -q "198\.18\.$x\."; then
			CL_NET=198.18.$x
			return 0
		fi
	done
	return 1
}

cl_setup() {
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ]; then
		echo "1..0 # SKIP needs root and /dev/net/tun"
		exit 0
	fi
	ssh-keygen -q -t ed25519 -N "" -C cluster -f "$T_DIR/id" || return 1
	cl_pick_net || { echo "# no free 198.18.X.0/24 for the underlay"; return 1; }
	ip link add "$CL_BR" type bridge && ip addr add "$CL_NET.1/24" dev "$CL_BR" && ip link set "$CL_BR" up || return 1
	local i h
	for i in 1 2 3; do
		h=h$i
		CL_NS[$h]=nc${CL_TAG}$h CL_VETH[$h]=nc${CL_TAG}v$i CL_ADDR[$h]=$CL_NET.1$i
		CL_STATE[$h]=$T_DIR/$h CL_SOCK[$h]=$T_DIR/$h.sock CL_LOG[$h]=$T_DIR/$h.log CL_CONF[$h]=$T_DIR/$h.json
		CL_PID[$h]=
		ip netns add "${CL_NS[$h]}" &&
			ip link add "${CL_VETH[$h]}" type veth peer name eth0 netns "${CL_NS[$h]}" &&
			ip link set "${CL_VETH[$h]}" master "$CL_BR" up &&
			ip -n "${CL_NS[$h]}" addr add "${CL_ADDR[$h]}/24" dev eth0 &&
			ip -n "${CL_NS[$h]}" link set eth0 up && ip -n "${CL_NS[$h]}" link set lo up &&
			ip -n "${CL_NS[$h]}" route add default via "$CL_NET.1" || return 1
		printf '{"host_down_after_s": 6%s}\n' "${CL_CONFIG:+, $CL_CONFIG}" >"${CL_CONF[$h]}"
		if [ -n "$CL_TLS" ]; then
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$h" \
				-keyout "$T_DIR/$h.key" -out "$T_DIR/$h.crt" >/dev/null 2>&1 && chmod 600 "$T_DIR/$h.key" || return 1
		fi
	done
}

# cl_pin H: the public-key pin of H's certificate, computed here (openssl).
cl_pin() {
	printf 'sha256//%s' "$(openssl x509 -in "$T_DIR/$1.crt" -pubkey -noout | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | base64)"
}

cin() { local h=$1; shift; ip netns exec "${CL_NS[$h]}" "$@"; }

# cl_start H [FLAGS…]: starts H's nubod in its namespace and waits for its API.
cl_start() {
	local h=$1; shift
	local tls=()
	[ -n "$CL_TLS" ] && tls=(--listen "${CL_ADDR[$h]}:$CL_TLS_PORT" --tls-cert "$T_DIR/$h.crt" --tls-key "$T_DIR/$h.key")
	ip netns exec "${CL_NS[$h]}" "$NUBOD" --state-dir "${CL_STATE[$h]}" --socket "${CL_SOCK[$h]}" "${T_DB_FLAGS[@]}" \
		--config "${CL_CONF[$h]}" --host-name "$h" --advertise "${CL_ADDR[$h]}" "${tls[@]}" "$@" >>"${CL_LOG[$h]}" 2>&1 &
	CL_PID[$h]=$!
	local i
	for i in $(seq 1 300); do
		curl -s --unix-socket "${CL_SOCK[$h]}" http://nubo/v1/types >/dev/null 2>&1 && return 0
		kill -0 "${CL_PID[$h]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "# $h's nubod did not start:"; tail -20 "${CL_LOG[$h]}" | sed 's/^/#   /'
	return 1
}
cl_start_all() { local h; for h in $CL_HOSTS; do cl_start "$h" || return 1; done; }

# cl_stop H: SIGTERM (its VMs keep running); cl_kill9 H: SIGKILL.
cl_stop() {
	local h=$1
	[ -n "${CL_PID[$h]}" ] || return 0
	kill "${CL_PID[$h]}" 2>/dev/null
	local end=$((SECONDS + 60))
	while kill -0 "${CL_PID[$h]}" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
	kill -9 "${CL_PID[$h]}" 2>/dev/null
	wait "${CL_PID[$h]}" 2>/dev/null
	CL_PID[$h]=
}
cl_kill9() {
	local h=$1
	[ -n "${CL_PID[$h]}" ] || return 0
	kill -9 "${CL_PID[$h]}" 2>/dev/null
	wait "${CL_PID[$h]}" 2>/dev/null
	CL_PID[$h]=
}

capi() {
	local h=$1 out; shift
	out=$(curl -s --unix-socket "${CL_SOCK[$h]}" -X "$1" ${3:+-d "$3"} -w '\n%{http_code}' "http://nubo$2")
	printf '%s %s' "${out##*$'\n'}" "${out%$'\n'*}"
}
cnubo() { local h=$1; shift; NUBO_SOCKET=${CL_SOCK[$h]} "$NUBO" "$@"; }

# cl_vm_json VM FIELD (through h1's API, or CL_ASK's)
cl_vm_field() { body_of "$(capi "${CL_ASK:-h1}" GET "/v1/vms/$1")" | jq -r ".$2"; }
cl_host_state() { body_of "$(capi "${CL_ASK:-h1}" GET "/v1/hosts/$1")" | jq -r .state; }

# cl_image_tiny: tiny built on h1; its files copied to the same place on h2
# and h3 (hosts do not fetch images from each other in this suite).
cl_image_tiny() {
	cnubo h1 image build tiny --wait >"$T_DIR/image.out" 2>&1 || { cat "$T_DIR/image.out"; return 1; }
	local id h
	id=$(cnubo h1 image show tiny --json | jq -r .id)
	for h in h2 h3; do
		mkdir -p "${CL_STATE[$h]}/images" && cp -a "${CL_STATE[h1]}/images/$id" "${CL_STATE[$h]}/images/" || return 1
	done
}

# cl_vm H NAME [ARGS…]: creates a nano VM through H's API and waits for it.
cl_vm() {
	local h=$1 name=$2; shift 2
	cnubo "$h" vm create "$name" --type nano --ssh-key "$T_DIR/id.pub" --wait "$@" 2>&1
}

# cl_on VM COMMAND: runs COMMAND in VM over SSH from its host's namespace.
cl_on() {
	local vm=$1 h
	h=$(cl_vm_field "$vm" host)
	[ -n "${CL_NS[$h]:-}" ] || { echo "# $vm: no host ($h)" >&2; return 1; }
	NUBO_SOCKET=${CL_SOCK[$h]} ip netns exec "${CL_NS[$h]}" "$NUBO" vm ssh "$vm" -- "$2" 2>>"$T_DIR/ssh.err"
}
# cl_answer VM COMMAND: cl_on, tried up to three times while it prints
# nothing (a first connect can time out on a loaded machine).
cl_answer() { local out i; for i in 1 2 3; do out=$(cl_on "$1" "$2"); [ -n "$out" ] && break; done; printf '%s' "$out"; }

cl_link_down() { ip link set "${CL_VETH[$1]}" down; }
cl_link_up() { ip link set "${CL_VETH[$1]}" up; }

cl_cleanup() {
	local h pidf
	for h in $CL_HOSTS; do
		[ -n "${CL_NS[$h]:-}" ] || continue
		cl_kill9 "$h"
		if [ -d "${CL_STATE[$h]}" ]; then
			ip netns exec "${CL_NS[$h]}" "$NUBOD" --state-dir "${CL_STATE[$h]}" --socket "${CL_SOCK[$h]}" \
				"${T_DB_FLAGS[@]}" --config "${CL_CONF[$h]}" --host-name "$h" --destroy >>"${CL_LOG[$h]}" 2>&1
			# whatever --destroy could not stop
			for pidf in "${CL_STATE[$h]}"/vms/*/qemu.pid; do
				[ -f "$pidf" ] && kill -9 "$(cat "$pidf")" 2>/dev/null
			done
		fi
		if [ "$T_FAILED" -gt 0 ] && [ -f "${CL_LOG[$h]}" ]; then
			echo "# $h's nubod log (last 25 lines):"
			tail -25 "${CL_LOG[$h]}" | sed 's/^/#   /'
		fi
		ip netns del "${CL_NS[$h]}" 2>/dev/null
		ip link del "${CL_VETH[$h]}" 2>/dev/null
	done
	ip link del "$CL_BR" 2>/dev/null
	return 0
}
t_on_exit cl_cleanup
