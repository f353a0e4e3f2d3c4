#!/usr/bin/env bash
# Benchmark 3: does a VM create cost the same for a 200 MiB and a 20 GiB image?
#
# Two images are made from tiny's files and put into nubod's store through
# the store library (seed_store), as an import would:
#   bench-200m  tiny's root file system shrunk to 200 MiB (resize2fs) and
#               filled with random data: 200 MiB virtual, ~all of it allocated
#   bench-20g   tiny's disk grown to 20 GiB with qemu-img resize: sparse
# Both boot (the guest grows its file system when the disk is bigger than
# the image recorded). Each run creates one VM from each (order alternating)
# with `nubo vm create --wait` and reads the operation's phases.
set -uo pipefail
. "$BENCH_SRC/lib.sh"

OUT=$BENCH_DIR/data/03-image-size.tsv
WORK=$BENCH_DIR/b03
mkdir -p "$WORK"
DB=$NUBO_STATE/nubo.db

# make_image NAME: a store row copying tiny's, then its directory; prints the dir.
make_image() {
	local id
	id=$("$SEED_STORE" "$DB" image "$1" tiny 2>>"$WORK/seed.log") || return 1
	mkdir -p "$NUBO_STATE/images/$id"
	cp "$TINY_DIR/vmlinuz" "$TINY_DIR/image.json" "$NUBO_STATE/images/$id/"
	[ ! -f "$TINY_DIR/initrd.img" ] || cp "$TINY_DIR/initrd.img" "$NUBO_STATE/images/$id/"
	echo "$NUBO_STATE/images/$id"
}

# set_sizes DIR: the row's sizes from the disk (the columns that exist in this schema).
set_sizes() {
	local dir=$1 id virt used cols
	id=$(basename "$dir")
	virt=$(qemu-img info --output=json "$dir/disk.qcow2" | jq '."virtual-size"')
	used=$(($(stat -c %b "$dir/disk.qcow2") * 512))
	cols=$(sqlite3 "$DB" "SELECT name FROM pragma_table_info('images')")
	local sql="UPDATE images SET size_bytes = $used"
	grep -qx virtual_size_bytes <<<"$cols" && sql="$sql, virtual_size_bytes = $virt"
	sqlite3 -cmd ".timeout 5000" "$DB" "$sql WHERE id = '$id';" || return 1
	echo "$virt $used"
}

say "making the 200 MiB and 20 GiB images"
D200=$(make_image bench-200m) || die "cannot add image bench-200m"
raw=$WORK/200m.raw
qemu-img convert -O raw "$TINY_DIR/disk.qcow2" "$raw" &&
	e2fsck -fy "$raw" >/dev/null 2>&1
resize2fs "$raw" 200M >/dev/null 2>&1 && truncate -s 200M "$raw" || die "cannot shrink tiny's file system to 200 MiB"
free=$(dumpe2fs -h "$raw" 2>/dev/null | awk -F: '/^Free blocks/ { print $2 + 0 }')
head -c $(((free - 2048) * 4096)) /dev/urandom >"$WORK/filler"
debugfs -w -R "write $WORK/filler var/filler" "$raw" >/dev/null 2>&1 || die "cannot fill the 200 MiB image"
rm -f "$WORK/filler"
qemu-img convert -O qcow2 "$raw" "$D200/disk.qcow2" || die "qemu-img convert failed"
rm -f "$raw"
read -r V200 U200 < <(set_sizes "$D200")

D20G=$(make_image bench-20g) || die "cannot add image bench-20g"
cp --sparse=always "$TINY_DIR/disk.qcow2" "$D20G/disk.qcow2" &&
	qemu-img resize -q "$D20G/disk.qcow2" 20G || die "qemu-img resize failed"
read -r V20G U20G < <(set_sizes "$D20G")

echo $'image\trun\taccepted\tdisk\tdisk_step\tnubo_boot\tqemu\tssh\tdone' >"$OUT"
run() { # IMAGE RUN
	local img=$1 i=$2 name=b3-$1-$2 d=$WORK/$1-$2 t0 w rc t_done
	mkdir -p "$d"
	t0=$(now_ms)
	"$BENCHTOOL" watch --t0 "$t0" --timeout 120 "nubo:nubo=$NUBO_SOCKET,name=$name,state=$NUBO_STATE" >"$d/watch.tsv" &
	w=$!
	"$NUBO" vm create "$name" --type small --image "$img" --ssh-key "$BENCH_KEY.pub" --wait >"$d/create.out" 2>&1
	rc=$?
	t_done=$(now_ms)
	wait $w
	[ $rc -eq 0 ] || say "$img run $i: $(tail -n 1 "$d/create.out")"
	local op created
	op=$(api_get "/v1/vms/$name" | jq -r .operation)
	api_get "/v1/operations/$op" >"$d/op.json"
	created=$(iso_ms "$(jq -r .created_at "$d/op.json")")
	jq -r --arg img "$img" --arg run "$i" --argjson c "$created" --argjson t "$t0" --argjson done "$((t_done - t0))" \
		--rawfile w "$d/watch.tsv" '
		def at($n): [.phases[] | select(.name == $n) | .at_ms][0];
		def v($x): if $x == null then "-" else ($x | tostring) end;
		($w | split("\n")[1] | split("\t")) as $f |
		def num($s): if $s == "nan" or $s == null then "-" else ($s | tonumber | round | tostring) end;
		[$img, $run, v($c - $t), v(if at("disk") then at("disk") + $c - $t else null end),
		 v(if at("disk") and at("scheduled") then at("disk") - at("scheduled") else null end),
		 v(if at("boot") then at("boot") + $c - $t else null end), num($f[3]), num($f[6]), v($done)] | @tsv' \
		"$d/op.json" >>"$OUT"
	nubo_retire "$name"
}
for i in $(seq 1 "$BENCH_N"); do
	if [ $((i % 2)) -eq 1 ]; then run bench-200m "$i"; run bench-20g "$i"; else run bench-20g "$i"; run bench-200m "$i"; fi
	say "run $i/$BENCH_N: $(awk -F'\t' -v r="$i" '$2 == r { printf "%s disk %s ms, QEMU %s ms  ", $1, $4, $6 }' "$OUT")"
done

where "$OUT" image bench-200m >"$WORK/a.tsv"
where "$OUT" image bench-20g >"$WORK/b.tsv"
r() { # LABEL COLUMN FORMAT
	printf '%s\t%s\t%s\t%s\n' "$1" "$($3 "$(col "$WORK/a.tsv" "$2" | summ)")" "$($3 "$(col "$WORK/b.tsv" "$2" | summ)")" \
		"$(fmt_x "$(pair_ratio "$WORK/b.tsv" "$2" "$WORK/a.tsv" "$2" | summ)")"
}
{
	printf 'time since the request\t200 MiB image\t20 GiB image\t20 GiB ÷ 200 MiB\n'
	r "API accepted" accepted fmt_ms
	r "disk step alone (scheduled → disk ready)" disk_step fmt_ms
	r "disk ready" disk fmt_ms
	r "QEMU started (nubo's boot phase)" nubo_boot fmt_ms
	r "QEMU started (pid file appears)" qemu fmt_ms
	r "SSH answers" ssh fmt_s
} >"$WORK/table.tsv"
mib() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }
{
	echo "## 3. Create cost against image size"
	echo
	echo "Two images made from tiny's files and added to the store: **bench-200m**, tiny's"
	echo "file system shrunk to 200 MiB and filled with random data ($(mib "$V200") virtual,"
	echo "$(mib "$U200") allocated), and **bench-20g**, tiny's disk grown to 20 GiB with"
	echo "\`qemu-img resize\` ($(mib "$V20G") virtual, $(mib "$U20G") allocated). One type small VM"
	echo "from each per run, N=$BENCH_N runs, \`nubo vm create --wait\`, order alternating; phases from the operation."
	echo
	md_table <"$WORK/table.tsv"
	echo
	echo "The guest grows its file system to the disk in the background after boot, so"
	echo "SSH time is shown for completeness; the create cost is the disk and boot rows."
} >"$BENCH_DIR/out/03-image-size.md"
echo
term_table <"$WORK/table.tsv"
