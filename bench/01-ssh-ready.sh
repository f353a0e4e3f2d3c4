#!/usr/bin/env bash
# Benchmark 1: request → SSH-ready for the default image (tiny), nubo against
# plain QEMU started by hand (the floor) and libvirt (virt-install --import).
# Run by bench/run.sh, which exports the environment this needs.
#
# Per run, in an order that rotates from run to run:
#   nubo     `nubo vm create NAME --type small --ssh-key K --wait` on the private nubod
#   plain    overlay on the same base disk, the same kind of seed, a tap on the
#            peers' bridge (dnsmasq), QEMU with the argv nubo uses (1 vCPU, 1 GiB)
#   libvirt  copy of the disk, seed, virt-install --import with direct kernel boot,
#            --virt-type qemu, 1 vCPU, 1 GiB, NIC on the same bridge
# benchtool watch follows each from the moment of the request (t0).
set -uo pipefail
. "$BENCH_SRC/lib.sh"

# Benchmark 2 runs this script again for debian-12 (BENCH_IMAGE, BENCH_TAG).
IMAGE=${BENCH_IMAGE:-tiny}
TAG=${BENCH_TAG:-01}
TYPE=${BENCH_TYPE:-small}
OUT=$BENCH_DIR/data/$TAG-ssh-ready-$IMAGE.tsv
WORK=$BENCH_DIR/b$TAG
mkdir -p "$WORK"
# BENCH_REPORT_ONLY=1: only the report, from the data of an earlier run (BENCH_KEEP).
if [ -n "${BENCH_REPORT_ONLY:-}" ]; then
	. "$WORK/meta"
else
	MEM=$(api_get /v1/types | jq -r --arg t "$TYPE" '.types[] | select(.name == $t) | .memory_mib')
	image_env "$IMAGE" || die "no image $IMAGE"
	printf 'MEM=%q\nIMG_BOOT=%q\n' "$MEM" "$IMG_BOOT" >"$WORK/meta"
fi
# Console lines that mark the guest's progress. tiny: the kernel starting
# init (/sbin/init; an image with an initrd: its /init); its boot script done (dropbear starts), DHCP client started, lease
# obtained, "ssh ready on IP". debian-12: systemd, cloud-init's first stage,
# the network online, sshd started.
if [ "$IMAGE" = tiny ]; then
	MARKS=(--mark 'Run /' --mark 'ssh ready on' --mark 'booted (hostname' --mark 'udhcpc: started' --mark 'lease of')
	X3=booted X4=dhcp_start X5=lease
	GUEST="guest: address and sshd up (console line)"
else
	MARKS=(--mark 'Run /' --mark 'Started ssh.service' --mark 'running in system mode' --mark "running 'init-local'"
		--mark 'Reached target network-online.target')
	X3=systemd X4=cloudinit_local X5=net_online
	GUEST="guest: sshd started (console line)"
fi
HDR=$'peer\trun\taccepted\tdisk\tqemu\tconsole\tkernel0\tinit\tguest_ssh\tssh\tnubo_boot\tnubo_ssh\tdone\t'"$X3"$'\t'"$X4"$'\t'"$X5"
if [ -z "${BENCH_REPORT_ONLY:-}" ]; then
echo "$HDR" >"$OUT"

# row PEER RUN WATCH_TSV ACCEPTED DISK NUBO_BOOT NUBO_SSH DONE: one line of $OUT.
row() {
	local w
	w=$(tail -n 1 "$3")
	# watch columns: label ip file pidfile console kernel0 ssh attempts, then the marks
	awk -F'\t' -v p="$1" -v r="$2" -v acc="$4" -v disk="$5" -v nb="$6" -v ns="$7" -v done="$8" '
		function v(x) { return (x == "nan" || x == "") ? "-" : sprintf("%.0f", x) }
		{ a = (acc == "file") ? $3 : acc
		  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p, r, v(a), v(disk), v($4), v($5), v($6),
			v($9), v($10), v($7), v(nb), v(ns), v(done), v($11), v($12), v($13) }' <<<"$w" >>"$OUT"
}

# run_nubo RUN [PEER IMAGE]: one `nubo vm create --wait`. If nubod has not
# reported SSH-ready $GRACE s after the guest's SSH answered, the wait is cut
# short (nubo_ssh and done stay empty): a slow probe must not cost minutes.
GRACE=${BENCH_GRACE:-15}
run_nubo() {
	local i=$1 peer=${2:-nubo} img=${3:-$IMAGE}
	local name=b$TAG-$peer-$i d=$WORK/$peer-$i
	mkdir -p "$d"
	local t0 w c rc t_done=
	t0=$(now_ms)
	"$BENCHTOOL" watch --t0 "$t0" --timeout 180 "${MARKS[@]}" \
		"nubo:nubo=$NUBO_SOCKET,name=$name,state=$NUBO_STATE" >"$d/watch.tsv" &
	w=$!
	("$NUBO" vm create "$name" --type "$TYPE" --image "$img" --ssh-key "$BENCH_KEY.pub" --wait >"$d/create.out" 2>&1 &
		echo $! >"$d/create.pid"
		wait $!
		echo "$? $(now_ms)" >"$d/create.rc") &
	c=$!
	wait $w
	for _ in $(seq 1 $((GRACE * 10))); do [ -s "$d/create.rc" ] && break; sleep 0.1; done
	if [ -s "$d/create.rc" ]; then
		read -r rc t_done <"$d/create.rc"
		[ "$rc" = 0 ] || say "$peer run $i: create failed: $(tail -n 1 "$d/create.out")"
		t_done=$((t_done - t0))
	else
		say "$peer run $i: nubod had not seen SSH ${GRACE} s after it answered; stopped waiting"
		kill "$(cat "$d/create.pid")" 2>/dev/null # the nubo CLI (the operation goes on in nubod)
		t_done=nan
	fi
	wait "$c" 2>/dev/null
	local op created disk boot ssh
	op=$(api_get "/v1/vms/$name" | jq -r .operation)
	api_get "/v1/operations/$op" >"$d/op.json"
	created=$(iso_ms "$(jq -r .created_at "$d/op.json")")
	ph() { jq -r --arg n "$1" --argjson c "$created" --argjson t "$t0" \
		'[.phases[] | select(.name == $n) | .at_ms + $c - $t][0] // "nan"' "$d/op.json"; }
	disk=$(ph disk)
	boot=$(ph boot)
	ssh=$(ph ssh-ready)
	row "$peer" "$i" "$d/watch.tsv" $((created - t0)) "$disk" "$boot" "$ssh" "$t_done"
	cp "$NUBO_STATE/vms/$(api_get "/v1/vms/$name" | jq -r .id)/console.log" "$d/console.log" 2>/dev/null
	nubo_retire "$name"
}

# run_plain RUN [PEER IMAGE_DIR]
run_plain() {
	local i=$1 peer=${2:-plain}
	local d=$WORK/$peer-$1 tap=bt${BENCH_ID}${peer:0:1}$TAG$1
	local mac ip t0 w start
	mac=$(peer_mac 0 "$i")
	ip=$(peer_ip 0 "$i")
	mkdir -p "$d"
	t0=$(now_ms)
	"$BENCHTOOL" watch --t0 "$t0" --timeout 180 "${MARKS[@]}" \
		"$peer:ip=$ip,console=$d/console.log,pidfile=$d/qemu.pid" >"$d/watch.tsv" &
	w=$!
	IMG_DIR=${3:-$IMG_DIR} plain_boot "$d" "$tap" "$mac" "$MEM" || say "$peer run $i: QEMU did not start"
	start=$(proc_start "$(cat "$d/qemu.pid" 2>/dev/null)")
	wait $w
	row "$peer" "$i" "$d/watch.tsv" nan $(($(cat "$d/t_disk") - t0)) nan nan nan
	plain_stop "$d" "$tap" "$start"
}

run_libvirt() {
	local i=$1 d=$WORK/libvirt-$1 name=bench-$BENCH_ID-b$TAG-$1
	local mac ip t0 w
	mac=$(peer_mac 1 "$i")
	ip=$(peer_ip 1 "$i")
	t0=$(now_ms)
	"$BENCHTOOL" watch --t0 "$t0" --timeout 180 "${MARKS[@]}" \
		"libvirt:ip=$ip,console=$d/console.log,pidfile=/run/libvirt/qemu/$name.pid,file=/etc/libvirt/qemu/$name.xml" \
		>"$d.watch.tsv" &
	w=$!
	libvirt_boot "$d" "$name" "$mac" "$MEM" || say "libvirt run $i: virt-install failed"
	wait $w
	mv "$d.watch.tsv" "$d/watch.tsv"
	row libvirt "$i" "$d/watch.tsv" file $(($(cat "$d/t_disk") - t0)) nan nan $(($(cat "$d/t_api" 2>/dev/null || echo "$t0") - t0))
	libvirt_stop "$name"
}

peers=(nubo plain)
[ -n "${LIBVIRT_OK:-}" ] && peers+=(libvirt)
for i in $(seq 1 "$BENCH_N"); do
	n=${#peers[@]}
	for k in $(seq 0 $((n - 1))); do
		p=${peers[$(((i - 1 + k) % n))]}
		"run_$p" "$i"
		sleep 1 # let the host settle between boots
	done
	say "run $i/$BENCH_N: $(awk -F'\t' -v r="$i" '$2 == r { printf "%s %.2f s  ", $1, $10 / 1000 }' "$OUT")"
done
fi

# --- report ---------------------------------------------------------------------------
for p in nubo plain libvirt; do where "$OUT" peer "$p" >"$WORK/$p.tsv"; done
phase_row() { # LABEL COLUMN [noratio]
	local label=$1 c=$2 a b l r1 r2
	a=$(col "$WORK/nubo.tsv" "$c" | summ)
	b=$(col "$WORK/plain.tsv" "$c" | summ)
	l=$(col "$WORK/libvirt.tsv" "$c" | summ)
	r1=$(pair_ratio "$WORK/nubo.tsv" "$c" "$WORK/plain.tsv" "$c" | summ)
	r2=$(pair_ratio "$WORK/libvirt.tsv" "$c" "$WORK/nubo.tsv" "$c" | summ)
	[ -n "${3:-}" ] && r1="x x x 0" r2="x x x 0"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$(fmt_s "$a")" "$(fmt_s "$b")" "$(fmt_s "$l")" "$(fmt_x "$r1")" "$(fmt_x "$r2")"
}
{
	printf 'phase (time since the request)\tnubo\tplain QEMU\tlibvirt\tnubo ÷ plain\tlibvirt ÷ nubo\n'
	phase_row "API accepted (nubo: operation created; libvirt: domain defined)" accepted
	phase_row "disk ready (overlay or copy, and seed)" disk
	phase_row "QEMU started (its pid file appears)" qemu
	phase_row "kernel running (first console line)" console
	phase_row "kernel runs init (Run /…init)" init
	phase_row "$GUEST" guest_ssh
	phase_row "**SSH answers** (banner, probed every 50 ms)" ssh
	phase_row "nubo's own ssh-ready phase" nubo_ssh
	phase_row "command returned (nubo --wait; virt-install)" done noratio
} >"$WORK/table.tsv"

# Where the time goes, from the medians of the differences run by run.
seg() { # PEER FROM TO → median of TO-FROM
	awk -F'\t' -v a="$2" -v b="$3" 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == a) x = i; if ($i == b) y = i }; next }
		$x ~ /^[0-9]+$/ && $y ~ /^[0-9]+$/ { print $y - $x }' "$WORK/$1.tsv" | summ
}
zero_col() { awk -F'\t' 'NR == 1 { print $0 "\tzero"; next } { print $0 "\t0" }' "$WORK/$1.tsv" >"$WORK/$1.z.tsv" && mv "$WORK/$1.z.tsv" "$WORK/$1.tsv"; }
for p in nubo plain libvirt; do zero_col "$p"; done
{
	printf 'segment\tnubo\tplain QEMU\tlibvirt\n'
	segrow() { printf '%s\t%s\t%s\t%s\n' "$1" "$(fmt_ms "$(seg nubo "$2" "$3")")" "$(fmt_ms "$(seg plain "$2" "$3")")" "$(fmt_ms "$(seg libvirt "$2" "$3")")"; }
	segrow "request → QEMU process (control plane, disk, seed, tap, exec)" zero qemu
	segrow "QEMU process → first console line (QEMU init, firmware, loading kernel and initrd)" qemu console
	segrow "first console line → init (kernel boot)" console init
	if [ "$IMAGE" = tiny ]; then
		segrow "init → boot script done (mounts, seed, hostname, keys)" init booted
		segrow "DHCP: client started → lease" dhcp_start lease
		segrow "init → address and sshd up (all of the guest's user space)" init guest_ssh
	else
		segrow "/init → systemd runs (initramfs)" init systemd
		segrow "systemd → cloud-init's first stage" systemd cloudinit_local
		segrow "cloud-init's first stage → network online" cloudinit_local net_online
		segrow "network online → sshd started" net_online guest_ssh
	fi
	segrow "guest up → SSH answers (host ARP, sshd's banner)" guest_ssh ssh
	segrow "SSH answers → nubo's ssh-ready (its probe's period)" ssh nubo_ssh
	segrow "nubo's ssh-ready → CLI returns (the CLI's polling)" nubo_ssh done
} >"$WORK/segments.tsv"

{
	if [ "$TAG" = 01 ]; then
		echo "## 1. Request → SSH-ready, default image (tiny)"
	else
		echo "## $((10#$TAG)). Request → SSH-ready, $IMAGE"
	fi
	echo
	echo "Type $TYPE ($MEM MiB) for all three, image $IMAGE (boot $IMG_BOOT); the same kernel (and initrd, if any), base disk and"
	echo "kind of seed; nubo from \`nubo vm create --wait\`, plain QEMU with nubo's own QEMU"
	echo "argv by hand, libvirt with \`virt-install --import\` (direct kernel boot, domain type"
	echo "qemu). N=$BENCH_N runs; times from the request; ratios are per run, then median (min–max)."
	echo
	md_table <"$WORK/table.tsv"
	echo
	cut=$(awk -F'\t' 'NR > 1 && $1 == "nubo" && $13 !~ /^[0-9]+$/ { c++ } END { print c + 0 }' "$OUT")
	if [ "$cut" -gt 0 ]; then
		echo "In $cut of the $BENCH_N nubo runs nubod had not reported ssh-ready ${BENCH_GRACE:-15} s after SSH answered;"
		echo "the benchmark stopped waiting there (nubod gives up only after ssh_wait_s, 300 s)."
		echo
	fi
	echo "Where the time goes (medians of the per-run differences):"
	echo
	md_table <"$WORK/segments.tsv"
} >"$BENCH_DIR/out/$TAG-ssh-ready.md"
echo
term_table <"$WORK/table.tsv"
echo
term_table <"$WORK/segments.tsv"
exit 0
