#!/bin/bash
# mkbase.sh — make the Debian 12 base image of the engine images without a
# container registry: debootstrap a minimal bookworm from a Debian mirror,
# then import the tree into Podman as localhost/untether-base:bookworm.
#
#   images/base/mkbase.sh [--force] [--mirror URL] [--image NAME]
#
# The mirror defaults to the one this host's apt uses (the entry for the
# bookworm suite in /etc/apt/sources.list and sources.list.d), else
# http://deb.debian.org/debian. The engine images then build from it:
#   podman build --build-arg BASE=localhost/untether-base:bookworm -t localhost/untether-claude:latest images/claude
# Podman's configuration comes from the environment as usual (CONTAINERS_CONF).
#
# It skips the work when the image exists, unless --force. debootstrap needs
# root: run as root, or it uses sudo for debootstrap and for reading the tree.
set -euo pipefail

IMAGE=localhost/untether-base:bookworm
SUITE=bookworm
FORCE=0
MIRROR=""

say() { printf 'mkbase: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
	sed -n '2,16s/^# \{0,1\}//p' "$0"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--force) FORCE=1 ;;
	--mirror) [ $# -ge 2 ] || die "--mirror needs a URL"; MIRROR=$2; shift ;;
	--mirror=*) MIRROR=${1#--mirror=} ;;
	--image) [ $# -ge 2 ] || die "--image needs a name"; IMAGE=$2; shift ;;
	--image=*) IMAGE=${1#--image=} ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
	shift
done

# host_mirror SUITE prints the URI apt uses for SUITE on this host.
host_mirror() {
	local f suite=$1
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		# one-line format: deb [options] URI SUITE COMPONENTS...
		awk -v suite="$suite" '
			$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) == suite) { print $i; exit }
			}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		# deb822 format: paragraphs with Types, URIs, Suites
		awk -v suite="$suite" '
			function flush() {
				if (deb && uri != "" && (" " suites " ") ~ (" " suite " ")) { print uri; found = 1 }
				deb = 0; uri = ""; suites = ""
			}
			/^[ \t]*$/ { flush(); if (found) exit; next }
			/^Types:/ { deb = ($0 ~ /[ \t]deb([ \t]|$)/) }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { suites = $0; sub(/^Suites:[ \t]*/, "", suites) }
			END { if (!found) flush() }' "$f"
	done
}

command -v podman >/dev/null || die "podman is not installed (apt-get install podman runc)"
if podman image exists "$IMAGE" && [ "$FORCE" = 0 ]; then
	say "$IMAGE already exists; nothing to do (--force rebuilds it)"
	exit 0
fi

if [ -z "$MIRROR" ]; then
	MIRROR=$(host_mirror "$SUITE" | head -n 1)
	if [ -n "$MIRROR" ]; then
		say "mirror from this host's apt sources: $MIRROR"
	else
		MIRROR=http://deb.debian.org/debian
		say "no bookworm entry in this host's apt sources; using $MIRROR"
	fi
fi
# The security archive lives apart from the mirror: take the host's, else
# the official one when the mirror is the official one, else none.
SECURITY=$(host_mirror "$SUITE-security" | head -n 1)
if [ -z "$SECURITY" ]; then
	case "$MIRROR" in
	http://deb.debian.org/debian | https://deb.debian.org/debian) SECURITY=$MIRROR-security ;;
	*) say "no security archive known for $MIRROR: the image will not see $SUITE-security" ;;
	esac
fi

command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] ||
	die "debootstrap is not installed: apt-get install debootstrap"
PATH=$PATH:/usr/sbin:/sbin

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || die "debootstrap needs root: run as root, or install sudo"
	SUDO=sudo
	say "not root: using sudo for debootstrap and for reading the tree"
fi

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/untether-base.XXXXXX")
ROOTFS=$WORK/rootfs
[ -n "$WORK" ] && [ -d "$WORK" ] || die "could not make a work directory"
cleanup() { $SUDO rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT

say "debootstrap --variant=minbase $SUITE into $ROOTFS from $MIRROR (a few minutes)"
$SUDO debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
	tail -n 20 "$WORK/debootstrap.log" >&2
	die "debootstrap failed (log above)"
}

say "configuring apt ($SUITE, $SUITE-updates${SECURITY:+, $SUITE-security}) and trimming docs and caches"
{
	printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$MIRROR" "$SUITE" "$SUITE"
	printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
	if [ -n "$SECURITY" ]; then
		printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$SECURITY" "$SUITE"
		printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
	fi
} | $SUDO tee "$ROOTFS/etc/apt/sources.list.d/debian.sources" >/dev/null
$SUDO rm -f "$ROOTFS/etc/apt/sources.list"
# Like the official slim images: packages installed later leave out
# documentation, man pages and translations (copyright files stay).
$SUDO tee "$ROOTFS/etc/dpkg/dpkg.cfg.d/untether-slim" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
$SUDO find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
$SUDO find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
$SUDO rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
	"$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/log/*.log \
	"$ROOTFS"/var/log/apt/* "$ROOTFS"/tmp/* "$ROOTFS/debootstrap"

say "importing the tree as $IMAGE"
$SUDO tar --numeric-owner --xattrs -C "$ROOTFS" -c . |
	podman import --quiet \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["/bin/bash"]' \
		--message "debootstrap --variant=minbase $SUITE $MIRROR" \
		- "$IMAGE" >/dev/null
say "done: $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
