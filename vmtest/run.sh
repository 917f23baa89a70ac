#!/usr/bin/env bash
# `make vmtest`: boots a Debian 12 guest under QEMU and runs the deployment
# scenarios there, as a user would run untether: a systemd user service,
# rootless Podman, cgroup v2. Builds (or reuses) the cached guest image,
# puts in a fresh static untether, the fake Telegram server and the test
# engine image, boots, and reads back the guest's results and journal.
# The disks' PCI slots put the root disk first: /dev/vda.
# Exits non-zero with the failing steps and the journal's tail.
#
# VMTEST_OUT=dir keeps the run's files there (default: a new directory
# under bin/vmtest). VMTEST_MEM (MiB, default 3072) and VMTEST_TIMEOUT
# (seconds, default 1500) size the guest. VMTEST_SCENARIOS="1 2 ..." runs
# only those scenarios.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
start=$(date +%s)
out=${VMTEST_OUT:-$repo/bin/vmtest/$(date -u +%Y%m%dT%H%M%SZ)}
mem=${VMTEST_MEM:-3072}
limit=${VMTEST_TIMEOUT:-1500}
mkdir -p "$out"
out=$(cd "$out" && pwd)
echo "vmtest: run directory $out" >&2

for bin in qemu-system-x86_64 qemu-img podman go; do
	command -v "$bin" >/dev/null || { echo "vmtest: $bin is missing: run 'make setup'" >&2; exit 1; }
done

# The guest image first: its build runs alone, the rest is quick.
image_dir=$(nice -n 10 "$here/build-image.sh")
t_image=$(date +%s)

payload=$out/payload
rm -rf "$payload"
mkdir -p "$payload/bin" "$payload/release"
# The build the guest installs is release 1.0.0, so that release install of
# an rc and rollback can be tried on it.
build() { # version output
	CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=$1" -o "$2" ./cmd/untether
}
build 1.0.0 "$payload/bin/untether"
build 1.1.0-rc.1 "$payload/release/untether-1.1.0-rc.1-linux-amd64"
(cd "$payload/release" && sha256sum untether-*-linux-* >SHA256SUMS)
CGO_ENABLED=0 go build -trimpath -o "$payload/bin/fakebot" ./vmtest/fakebot
go run ./vmtest/saveimage -out "$payload/testengine.tar"
cp -r "$here/guest" "$payload/guest"
printf '%s\n' "${VMTEST_SCENARIOS:-}" >"$payload/scenarios"
# Boot and the steps after the scenarios take about three minutes.
echo $((limit - 240)) >"$payload/budget"
tar -C "$payload" -cf "$out/payload.tar" .
t_payload=$(date +%s)

qemu-img create -q -f qcow2 -F raw -b "$image_dir/base.img" "$out/overlay.qcow2"
rm -f "$out/results.img"
truncate -s 256M "$out/results.img"

# KVM when this host offers it; software emulation otherwise (as on the
# machines CI runs on).
accel=tcg,thread=multi
[[ -r /dev/kvm && -w /dev/kvm ]] && accel=kvm
echo "vmtest: booting the guest with -accel $accel (log: $out/console.log)" >&2
set +e
nice -n 10 timeout --kill-after=10 "$limit" qemu-system-x86_64 \
	-accel "$accel" -smp 2 -m "$mem" -nodefaults -nographic -no-reboot \
	-nic none -serial "file:$out/console.log" -monitor none \
	-kernel "$image_dir/vmlinuz" -initrd "$image_dir/initrd.img" \
	-append 'root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 panic=-1' \
	-drive "file=$out/overlay.qcow2,format=qcow2,if=none,id=root" \
	-device virtio-blk-pci,drive=root,serial=root,addr=0x5 \
	-drive "file=$out/payload.tar,format=raw,if=none,id=payload,readonly=on" \
	-device virtio-blk-pci,drive=payload,serial=payload,addr=0x6 \
	-drive "file=$out/results.img,format=raw,if=none,id=results" \
	-device virtio-blk-pci,drive=results,serial=results,addr=0x7
qrc=$?
set -e
t_vm=$(date +%s)
rm -f "$out/overlay.qcow2"

mkdir -p "$out/results"
if ! tar -C "$out/results" -xf "$out/results.img" 2>/dev/null; then
	echo "vmtest: the guest wrote no results (qemu exit $qrc); the console's tail:" >&2
	tail -40 "$out/console.log" >&2
	exit 1
fi
rm -f "$out/results.img"
res=$out/results/results.txt
cat "$res"
echo "vmtest: image $((t_image - start))s, payload $((t_payload - t_image))s, guest $((t_vm - t_payload))s, total $((t_vm - start))s" | tee -a "$out/timings.txt" >&2
if grep -q '^FAIL' "$res" || ! grep -q '^DONE' "$res"; then
	echo "vmtest: FAILED (qemu exit $qrc):" >&2
	grep '^FAIL' "$res" >&2 || echo "vmtest: the scenarios did not finish" >&2
	echo "--- the guest journal's tail ($out/results/journal.txt):" >&2
	tail -60 "$out/results/journal.txt" >&2 || true
	exit 1
fi
echo "vmtest: PASS ($(grep -c '^PASS' "$res") steps)" >&2
