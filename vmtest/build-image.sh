#!/usr/bin/env bash
# Builds the Debian 12 guest that `make vmtest` boots, unless the cache
# already holds one for this script and package list. Prints the cache
# directory holding base.img, vmlinuz and initrd.img. Runs as root
# (debootstrap, chroot).
set -euo pipefail

# Only the cache directory goes to stdout (run.sh reads it): everything
# the tools say goes to stderr.
exec 3>&1 1>&2
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${UNTETHER_VMTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/untether-vmtest}
mirror=${UNTETHER_VMTEST_MIRROR:-http://deb.debian.org/debian}

# What the guest runs: systemd as PID 1 and for users, rootless Podman and
# what it recommends, and the kernel and initramfs QEMU boots.
packages=(
	systemd systemd-sysv dbus dbus-user-session libpam-systemd udev kmod
	linux-image-amd64 initramfs-tools
	podman crun conmon uidmap fuse-overlayfs slirp4netns catatonit netavark aardvark-dns
	systemd-container busybox-static procps
)

key=$( { printf '%s\n' "${packages[@]}" "$mirror"; cat "$0" "$here/guest/vmtest.service"; } | sha256sum | cut -c1-16)
dir=$cache_root/$key
if [[ -f $dir/base.img && -f $dir/vmlinuz && -f $dir/initrd.img ]]; then
	echo "$dir" >&3
	exit 0
fi
if [[ $(id -u) != 0 ]]; then
	echo "vmtest: building the guest image needs root (debootstrap); run 'make vmtest' as root" >&2
	exit 1
fi
for bin in debootstrap mkfs.ext4; do
	command -v "$bin" >/dev/null || { echo "vmtest: $bin is missing: run 'make setup'" >&2; exit 1; }
done

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'umount -R "$work/rootfs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
root=$work/rootfs

echo "vmtest: debootstrap bookworm into $root (a few minutes)" >&2
include=$(IFS=,; echo "${packages[*]}")
nice -n 10 debootstrap --variant=minbase --include="$include" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	tail -30 "$work/debootstrap.log" >&2
	echo "vmtest: debootstrap failed" >&2
	exit 1
}

# A fixed machine id, so journals and units are the same on every boot.
echo 5a1e7e7de7e57a1e7e7de7e57a1e7e7d >"$root/etc/machine-id"
echo vmtest >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 vmtest\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
# No password for root on the console: the guest has no network.
chroot "$root" passwd -d root >/dev/null

# The unprivileged user the scenarios run as: subordinate ids for rootless
# Podman, and linger so its systemd instance runs without a login.
chroot "$root" useradd -m -u 1000 -s /bin/bash tester
echo 'tester:100000:65536' >"$root/etc/subuid"
echo 'tester:100000:65536' >"$root/etc/subgid"
mkdir -p "$root/var/lib/systemd/linger"
touch "$root/var/lib/systemd/linger/tester"
# Rootless storage defaults to vfs on Debian 12: overlay instead.
mkdir -p "$root/home/tester/.config/containers"
printf '[storage]\ndriver = "overlay"\n' >"$root/home/tester/.config/containers/storage.conf"
chroot "$root" chown -R tester:tester /home/tester/.config

# The test unit: after boot, run the payload's scenario script, then power off.
install -m 0644 "$here/guest/vmtest.service" "$root/etc/systemd/system/vmtest.service"
chroot "$root" systemctl enable vmtest.service >/dev/null 2>&1
# Quieter, faster boots.
chroot "$root" systemctl mask systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
	e2scrub_all.timer fstrim.timer man-db.timer >/dev/null 2>&1 || true
rm -f "$root"/var/cache/apt/archives/*.deb

cp -L "$root/vmlinuz" "$work/vmlinuz"
cp -L "$root/initrd.img" "$work/initrd.img"
chmod 0644 "$work/vmlinuz" "$work/initrd.img"
mkfs.ext4 -q -L vmtest -d "$root" "$work/base.img" 4G

mkdir -p "$dir"
mv "$work/base.img" "$work/vmlinuz" "$work/initrd.img" "$dir/"
echo "vmtest: guest image cached in $dir" >&2
echo "$dir" >&3
