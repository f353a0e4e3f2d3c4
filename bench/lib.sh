# bench/lib.sh: shared by bench/run.sh and the benchmark scripts (sourced).
#
# Everything a run makes lives under $BENCH_DIR (/tmp/bench-*) and is listed
# in $BENCH_DIR/cleanup as it is made, so that bench_cleanup can remove it in
# reverse order even after a failure: processes (by pid), taps, the bridge,
# libvirt domains, nubods (nubod --destroy), private PostgreSQL clusters.
#
# Times are wall-clock milliseconds (bash's EPOCHREALTIME), the clock that
# nubod's operation timestamps and benchtool use too.

BENCH_SRC=${BENCH_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}

now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

say() { printf '%s\n' "$*" >&2; }
step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
die() {
	say "bench: error: $*"
	exit 1
}

# register KIND ARGS...: something to undo at the end (see bench_cleanup).
# Processes are recorded with their start time, so that a pid reused by
# another process after ours ended is never signalled.
register() { echo "$*" >>"$BENCH_DIR/cleanup"; }
proc_start() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	set -- $s
	echo "${20}"
}
register_pid() { register pid "$1" "$(proc_start "$1")"; }
# same_proc PID START: the process PID is still the one that started at START.
same_proc() { [ -n "$2" ] && [ "$(proc_start "$1")" = "$2" ]; }

# --- statistics ------------------------------------------------------------------

# summ: numbers on stdin (one per line; "nan", "-" and blanks skipped) →
# "median min max n". Median of an even count is the mean of the middle two.
summ() {
	grep -E '^-?[0-9.]+$' | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "nan nan nan 0"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s %s %s %d\n", m, v[1], v[NR], NR
		}'
}

# col FILE NAME: the column called NAME (header line) of a TSV file, one value per line.
col() {
	awk -F'\t' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
		c { print $c }' "$1"
}

# where FILE KEY VALUE: the rows (with the header) whose column KEY is VALUE.
where() {
	awk -F'\t' -v key="$2" -v val="$3" 'NR == 1 { print; for (i = 1; i <= NF; i++) if ($i == key) c = i; next }
		$c == val' "$1"
}

# ratio_col FILE NUM DEN: per-row NUM/DEN (rows where both are numbers).
ratio_col() {
	awk -F'\t' -v a="$2" -v b="$3" 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == a) x = i; if ($i == b) y = i }; next }
		$x ~ /^[0-9.]+$/ && $y ~ /^[0-9.]+$/ && $y > 0 { printf "%.4f\n", $x / $y }' "$1"
}

# pair_ratio FILE_A COL_A FILE_B COL_B: per-run ratio A/B, rows matched by their "run" column.
pair_ratio() {
	awk -F'\t' -v ca="$2" -v cb="$4" '
		FNR == 1 { for (i = 1; i <= NF; i++) { if ($i == "run") r = i; if ($i == (FILENAME == ARGV[1] ? ca : cb)) c = i }; next }
		FILENAME == ARGV[1] { a[$r] = $c; next }
		($r in a) && a[$r] ~ /^[0-9.]+$/ && $c ~ /^[0-9.]+$/ && $c > 0 { printf "%.4f\n", a[$r] / $c }' "$1" "$3"
}

# Formatting "median min max n" (from summ).
# fmt_s: milliseconds shown as seconds: "4.12 s (3.90–4.40)"
fmt_s() {
	awk -v s="$1" 'BEGIN { split(s, v, " "); if (v[4] == 0) { print "–"; exit }
		if (v[4] == 1) printf "%.2f s\n", v[1] / 1000; else printf "%.2f s (%.2f–%.2f)\n", v[1] / 1000, v[2] / 1000, v[3] / 1000 }'
}
# fmt_ms: "12.3 ms (10.1–14.0)"
fmt_ms() {
	awk -v s="$1" 'BEGIN { split(s, v, " "); if (v[4] == 0) { print "–"; exit }
		f = (v[1] < 10) ? "%.2f" : (v[1] < 100 ? "%.1f" : "%.0f")
		if (v[4] == 1) printf f " ms\n", v[1]; else printf f " ms (" f "–" f ")\n", v[1], v[2], v[3] }'
}
# fmt_x: ratios "1.23× (1.10–1.40)"
fmt_x() {
	awk -v s="$1" 'BEGIN { split(s, v, " "); if (v[4] == 0) { print "–"; exit }
		f = (v[1] < 0.01) ? "%.4f" : (v[1] < 0.1 ? "%.3f" : "%.2f")
		if (v[4] == 1) printf f "×\n", v[1]; else printf f "× (" f "–" f ")\n", v[1], v[2], v[3] }'
}
# fmt_n FORMAT: any number "median (min–max)" with a printf format
fmt_n() {
	awk -v s="$1" -v f="$2" 'BEGIN { split(s, v, " "); if (v[4] == 0) { print "–"; exit }
		if (v[4] == 1) printf f "\n", v[1]; else printf f " (" f "–" f ")\n", v[1], v[2], v[3] }'
}
med() { echo "$1" | cut -d' ' -f1; }

# md_table: TSV on stdin (first line the header) → a markdown table.
md_table() {
	awk -F'\t' 'NR == 1 { h = "|"; s = "|"; for (i = 1; i <= NF; i++) { h = h " " $i " |"; s = s (i == 1 ? "---|" : "---:|") }
			print h; print s; next }
		{ l = "|"; for (i = 1; i <= NF; i++) l = l " " $i " |"; print l }'
}
# term_table: the same TSV for the terminal.
term_table() { column -t -s $'\t'; }

# --- the nubod under test ------------------------------------------------------

# nubod_up STATE SOCK LOG [flags...]: starts a private nubod, waits until it
# answers (NUBOD_UP_SECONDS, default 10).
nubod_up() {
	local state=$1 sock=$2 log=$3
	shift 3
	setsid "$BENCH_BIN/nubod" --state-dir "$state" --socket "$sock" "$@" >>"$log" 2>&1 </dev/null &
	local pid=$!
	case " $* " in
	*" --dry-run "*) register_pid "$pid" ;; # touches nothing on the host
	*) register nubod "$pid" "$(proc_start "$pid")" "$state" "$sock" "$log" ;;
	esac
	local i
	for i in $(seq 1 $((${NUBOD_UP_SECONDS:-10} * 20))); do
		curl -sf --unix-socket "$sock" http://nubo/v1/types >/dev/null 2>&1 && {
			echo "$pid"
			return 0
		}
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	say "nubod did not start; its log:"
	tail -20 "$log" >&2
	return 1
}

# nubod_down PID: SIGTERM and wait (VMs keep running; the state stays).
nubod_down() {
	kill -0 "$1" 2>/dev/null || return 0
	kill "$1" 2>/dev/null
	local i
	for i in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -9 "$1" 2>/dev/null
}

# nubo_retire NAME...: takes measured VMs out of the way. They are stopped
# (--force), not deleted, so that no VM reuses a just-freed address: builds
# of nubod before commit 90ce19c left the deleted VM's lease in dnsmasq, and
# the next VM got another address than the one nubod probed (run.sh's last
# check tests reuse on its own). Stopped VMs hold no vCPU or memory; nubod
# --destroy removes them at the end.
nubo_retire() {
	local n
	for n in "$@"; do
		"$NUBO" vm stop "$n" --force --wait >/dev/null 2>&1 || say "nubo: stopping $n failed"
	done
}

api_get() { curl -sf --unix-socket "$NUBO_SOCKET" "http://nubo$1"; }

# rfc3339 with ms → ms since the epoch
iso_ms() { date -u -d "$1" +%s%3N; }

# --- the plain peers: a bridge with dnsmasq, taps, QEMU by hand, libvirt --------

# net_up: bridge $PEER_BR with 10.250.X.1/24 (a free X) and a dnsmasq giving
# fixed addresses: MAC 52:54:00:be:GG:KK → 10.250.X.(10 + 40*GG + KK), for
# groups GG 0–5 and KK 0–29 (peer_mac, peer_ip).
net_up() {
	local x
	for x in $(seq $((RANDOM % 200 + 20)) 254) $(seq 20 254); do
		ip -4 route | grep -q "^10\.250\.$x\." || break
	done
	PEER_NET=10.250.$x
	PEER_BR=bbr$BENCH_ID
	ip link add "$PEER_BR" type bridge || die "cannot create bridge $PEER_BR"
	register bridge "$PEER_BR"
	ip addr add "$PEER_NET.1/24" dev "$PEER_BR"
	ip link set "$PEER_BR" up
	local conf=$BENCH_DIR/peers/dnsmasq.conf g k
	mkdir -p "$BENCH_DIR/peers"
	{
		echo "port=0"
		echo "interface=$PEER_BR"
		echo "bind-interfaces"
		echo "except-interface=lo"
		echo "dhcp-range=$PEER_NET.2,$PEER_NET.250,255.255.255.0,12h"
		echo "dhcp-leasefile=$BENCH_DIR/peers/leases"
		echo "dhcp-authoritative"
		for g in 0 1 2 3 4 5; do
			for k in $(seq 0 29); do
				printf 'dhcp-host=52:54:00:be:%02x:%02x,%s.%d\n' "$g" "$k" "$PEER_NET" $((10 + 40 * g + k))
			done
		done
	} >"$conf"
	dnsmasq --conf-file="$conf" --pid-file="$BENCH_DIR/peers/dnsmasq.pid" || die "dnsmasq failed"
	register_pid "$(cat "$BENCH_DIR/peers/dnsmasq.pid")"
	export PEER_NET PEER_BR
}

peer_mac() { printf '52:54:00:be:%02x:%02x' "$1" $(($2 % 30)); } # GROUP K
peer_ip() { echo "$PEER_NET.$((10 + 40 * $1 + $2 % 30))"; }      # GROUP K
peer_ip_of_mac() { peer_ip $((16#${1:12:2})) $((16#${1:15:2})); }   # MAC

# image_env NAME: IMG_DIR, IMG_BOOT (direct|firmware), IMG_CMDLINE of a nubo
# image, and LV_DIR with the copies libvirt gets (made on first use; libvirt
# changes the owner of what it boots, so it never gets nubo's own files).
image_env() {
	local id
	id=$(api_get "/v1/images/$1" | jq -r .id) || return 1
	IMG_DIR=$NUBO_STATE/images/$id
	IMG_BOOT=$(jq -r '.boot // "direct"' "$IMG_DIR/image.json")
	IMG_CMDLINE=$(jq -r '.cmdline // ""' "$IMG_DIR/image.json")
	LV_DIR=$BENCH_DIR/libvirt/$1
	if [ -n "${LIBVIRT_OK:-}" ] && [ ! -d "$LV_DIR" ]; then
		mkdir -p "$LV_DIR"
		chmod 755 "$BENCH_DIR/libvirt" "$LV_DIR"
		cp --sparse=always "$IMG_DIR/disk.qcow2" "$LV_DIR/disk.qcow2"
		[ "$IMG_BOOT" = direct ] && cp "$IMG_DIR/vmlinuz" "$LV_DIR/"
		[ "$IMG_BOOT" = direct ] && [ -f "$IMG_DIR/initrd.img" ] && cp "$IMG_DIR/initrd.img" "$LV_DIR/"
	fi
	export IMG_DIR IMG_BOOT IMG_CMDLINE LV_DIR
}

# make_seed DIR HOSTNAME MAC: a NoCloud seed.iso as nubo makes it (genisoimage,
# label cidata), with the address the peers' dnsmasq has for MAC.
make_seed() {
	local dir=$1 name=$2 mac=$3
	mkdir -p "$dir/seed"
	printf 'instance-id: "%s"\nlocal-hostname: "%s"\nnubo-ipv4: "%s/24"\nnubo-gateway: "%s.1"\npublic-keys:\n  - "%s"\n' \
		"i-$name" "$name" "$(peer_ip_of_mac "$mac")" "$PEER_NET" \
		"$(cat "$BENCH_KEY.pub")" >"$dir/seed/meta-data"
	printf '#cloud-config\n' >"$dir/seed/user-data"
	genisoimage -quiet -output "$dir/seed.iso" -volid cidata -joliet -rock \
		"$dir/seed/user-data" "$dir/seed/meta-data"
}

# The firmware nubod gives direct boots (its config's default "qboot"); a
# host without it boots them with SeaBIOS, as nubod then does.
QBOOT=${QBOOT:-/usr/share/qemu/qboot.rom}

# plain_boot DIR TAP MAC MEM_MIB: everything nubo does for a start, by hand:
# overlay on the same base, seed, tap on the bridge, QEMU with the machine,
# accelerator (TCG with nubo's 64 MiB translation cache), devices and boot
# nubo uses (qboot and the image's kernel, and its initrd if it has one, for
# a direct boot; plus $PLAIN_EXTRA, for what-if variants), started with
# -daemonize. Not nubo's own additions: -runas, -sandbox, the cgroup and the
# spare PCIe ports for hot-plug count as nubo's cost. Writes DIR/t_disk and
# DIR/t_qemu (ms) and DIR/qemu.pid.
plain_boot() {
	local dir=$1 tap=$2 mac=$3 mem=$4
	mkdir -p "$dir"
	qemu-img create -q -f qcow2 -F qcow2 -b "$IMG_DIR/disk.qcow2" "$dir/root.qcow2" &&
		make_seed "$dir" "$(basename "$dir")" "$mac" || return 1
	now_ms >"$dir/t_disk"
	ip tuntap add dev "$tap" mode tap && register tap "$tap" &&
		ip link set "$tap" master "$PEER_BR" && ip link set "$tap" up &&
		ip neigh replace "$(peer_ip_of_mac "$mac")" lladdr "$mac" dev "$PEER_BR" nud permanent || return 1
	local boot=(-device virtio-blk-pci,drive=root,bootindex=1)
	if [ "$IMG_BOOT" = direct ]; then
		boot=()
		[ -r "$QBOOT" ] && boot+=(-bios "$QBOOT")
		boot+=(-kernel "$IMG_DIR/vmlinuz")
		[ -f "$IMG_DIR/initrd.img" ] && boot+=(-initrd "$IMG_DIR/initrd.img")
		boot+=(-append "$IMG_CMDLINE" -device virtio-blk-pci,drive=root)
	fi
	qemu-system-x86_64 -name "bench-$(basename "$dir")" -machine q35 -accel tcg,tb-size=64 -cpu max -smp 1 -m "$mem" \
		-nodefaults -no-user-config -display none -vga none -no-shutdown \
		-drive "file=$dir/root.qcow2,if=none,id=root,format=qcow2,discard=unmap" "${boot[@]}" \
		-drive "file=$dir/seed.iso,if=none,id=seed,format=raw,readonly=on" -device virtio-blk-pci,drive=seed \
		-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=$mac" \
		-serial "file:$dir/console.log" -qmp "unix:$dir/qmp.sock,server=on,wait=off" \
		-pidfile "$dir/qemu.pid" -daemonize ${PLAIN_EXTRA:-} || return 1
	now_ms >"$dir/t_qemu"
	register_pid "$(cat "$dir/qemu.pid")"
}

# plain_stop DIR TAP START: START is the QEMU's start time (proc_start), read at launch.
plain_stop() {
	local pid
	pid=$(cat "$1/qemu.pid" 2>/dev/null) && same_proc "$pid" "$3" && kill "$pid" 2>/dev/null
	for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	ip link del "$2" 2>/dev/null
	rm -f "$1/root.qcow2"
}

# libvirt_up: a libvirtd to compare with. One that already runs is used as it
# is; otherwise one is started for the run (and stopped at the end). Where
# /dev/kvm's group is not "kvm" (containers), libvirt re-probes QEMU on every
# call (its QEMU user cannot open /dev/kvm, the cached capabilities say KVM):
# minutes per virt-install. The libvirtd started here sees, in its own mount
# namespace, a /dev/kvm node with the group Debian's udev rule would give it.
LIBVIRT_OK=${LIBVIRT_OK:-}
libvirt_up() {
	command -v virt-install >/dev/null && command -v virsh >/dev/null || return 1
	if virsh -c qemu:///system version >/dev/null 2>&1; then
		LIBVIRT_NOTE="the libvirtd already running on this host"
		LIBVIRT_OK=1
		return 0
	fi
	if ! pgrep -x virtlogd >/dev/null; then
		setsid virtlogd >/dev/null 2>&1 </dev/null &
		register_pid $!
	fi
	local node=$BENCH_DIR/libvirt/kvm-node
	mkdir -p "$BENCH_DIR/libvirt"
	local wrap="exec libvirtd"
	if [ -e /dev/kvm ] && [ "$(stat -c %G /dev/kvm)" != kvm ] && getent group kvm >/dev/null &&
		mknod -m 0660 "$node" c "$((0x$(stat -c %t /dev/kvm)))" "$((0x$(stat -c %T /dev/kvm)))" 2>/dev/null &&
		chgrp kvm "$node"; then
		wrap="mount --bind $node /dev/kvm && exec libvirtd"
		LIBVIRT_NOTE="libvirtd 9 started for the run; in its mount namespace /dev/kvm has group kvm as on a stock Debian host (here it has group $(stat -c %G /dev/kvm), which makes libvirt re-probe QEMU on every call)"
	else
		LIBVIRT_NOTE="libvirtd started for the run"
	fi
	setsid unshare -m --propagation private sh -c "$wrap" >"$BENCH_DIR/libvirt/libvirtd.log" 2>&1 </dev/null &
	register_pid $!
	local i
	for i in $(seq 1 100); do
		virsh -c qemu:///system version >/dev/null 2>&1 && break
		sleep 0.1
	done
	virsh -c qemu:///system version >/dev/null 2>&1 || return 1
	# The first call probes QEMU's capabilities (seconds): not part of any measurement.
	virsh -c qemu:///system domcapabilities --virttype qemu >/dev/null 2>&1
	LIBVIRT_OK=1
}

# libvirt_boot DIR NAME MAC MEM_MIB: virt-install --import on a copy of the
# image's disk, direct kernel boot with the image's kernel, initrd (if it has
# one) and command line (libvirt's own firmware), the same seed, a NIC on the peers' bridge, domain type qemu (TCG).
# Writes DIR/t_disk and DIR/t_api (virt-install returned).
libvirt_boot() {
	local dir=$1 name=$2 mac=$3 mem=$4
	mkdir -p "$dir"
	chmod 755 "$dir"
	cp --sparse=always "$LV_DIR/disk.qcow2" "$dir/disk.qcow2" && make_seed "$dir" "$name" "$mac" || return 1
	local boot=()
	if [ "$IMG_BOOT" = direct ]; then
		local initrd=
		[ -f "$LV_DIR/initrd.img" ] && initrd="initrd=$LV_DIR/initrd.img,"
		boot=(--boot "kernel=$LV_DIR/vmlinuz,${initrd}kernel_args=$IMG_CMDLINE")
	fi
	now_ms >"$dir/t_disk"
	register virsh "$name"
	virt-install --connect qemu:///system --name "$name" --virt-type qemu --memory "$mem" --vcpus 1 --import \
		--disk "path=$dir/disk.qcow2,format=qcow2,bus=virtio" \
		--disk "path=$dir/seed.iso,format=raw,bus=virtio,readonly=on" \
		"${boot[@]}" \
		--network "bridge=$PEER_BR,model=virtio,mac=$mac" --graphics none \
		--serial "file,path=$dir/console.log" --noautoconsole --osinfo linux2022 \
		>"$dir/virt-install.log" 2>&1 || {
		tail -5 "$dir/virt-install.log" >&2
		return 1
	}
	now_ms >"$dir/t_api"
}

libvirt_stop() {
	virsh -c qemu:///system destroy "$1" >/dev/null 2>&1
	virsh -c qemu:///system undefine "$1" >/dev/null 2>&1
}

# rss_kib PID: "RSS_KiB PSS_KiB"
rss_kib() {
	local rss pss
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
	pss=$(awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null)
	echo "${rss:-nan} ${pss:-nan}"
}

# --- cleanup -------------------------------------------------------------------

bench_cleanup() {
	[ -f "$BENCH_DIR/cleanup" ] || return 0
	local kind a b c d e
	tac "$BENCH_DIR/cleanup" | while read -r kind a b c d e; do
		case $kind in
		pid)
			same_proc "$a" "$b" || continue
			kill "$a" 2>/dev/null && for _ in $(seq 1 40); do same_proc "$a" "$b" || break; sleep 0.05; done
			same_proc "$a" "$b" && kill -9 "$a" 2>/dev/null
			;;
		tap | bridge) ip link del "$a" 2>/dev/null ;;
		pgcluster) # a private PostgreSQL cluster (tests/pg.sh): its postmaster, then its files
			[ -f "$a/data/postmaster.pid" ] && kill -QUIT "$(head -n 1 "$a/data/postmaster.pid")" 2>/dev/null && sleep 0.5
			rm -rf "$a"
			;;
		virsh) libvirt_stop "$a" ;;
		nubod)
			same_proc "$a" "$b" && kill -9 "$a" 2>/dev/null && sleep 0.1
			# --destroy stops every VM of that state and removes its bridge, taps,
			# dnsmasq, nftables table and files.
			[ -f "$c/nubo.db" ] && "$BENCH_BIN/nubod" --state-dir "$c" --socket "$d" --destroy >>"$e" 2>&1
			;;
		esac
	done
	rm -f "$BENCH_DIR/cleanup"
}
