#!/usr/bin/env bash
# Assembles the files of the vigie images' base (deploy/docker/Dockerfile)
# from the build host, so that building the images needs no registry:
#
#   base/                                stage "base": FROM scratch plus this tree
#     etc/ssl/certs/ca-certificates.crt  the host's CA bundle (Debian: ca-certificates)
#     usr/share/zoneinfo/                the host's time zones (Debian: tzdata)
#     etc/passwd, etc/group              root and nobody (65534), nothing else of the host's
#     tmp/                               1777, for anything that wants a temporary file
#   state/vigie-router/                  0700, the router's state directory (the
#                                        router image copies it owned by nobody)
#
# Usage: scripts/docker-rootfs.sh [DIR]   (default .build/docker-rootfs)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/.build/docker-rootfs}"
certs="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
zoneinfo="${ZONEINFO:-/usr/share/zoneinfo}"

# DIR is replaced, so it must be new, empty, or made by this script before
# (it then holds the marker file): never anything else.
marker=".vigie-docker-rootfs"
if [ -e "$out" ] && [ ! -e "$out/$marker" ] && [ -n "$(ls -A -- "$out" 2>/dev/null || echo not-a-directory)" ]; then
	echo "docker-rootfs: refusing to replace $out: it exists and was not made by this script (no $marker)" >&2
	exit 1
fi
for need in "$certs" "$zoneinfo/UTC"; do
	if [ ! -e "$need" ]; then
		echo "docker-rootfs: $need is missing on this host (Debian: apt-get install ca-certificates tzdata)" >&2
		exit 1
	fi
done

rm -rf -- "$out"
mkdir -p -- "$out"
: >"$out/$marker"
base="$out/base"
mkdir -p "$base/etc/ssl/certs" "$base/usr/share" "$base/tmp" "$out/state/vigie-router"
chmod 1777 "$base/tmp"
chmod 0700 "$out/state/vigie-router"
# Dereference symbolic links: the image has none of the host's targets.
cp -L "$certs" "$base/etc/ssl/certs/ca-certificates.crt"
cp -RL "$zoneinfo" "$base/usr/share/zoneinfo"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' >"$base/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$base/etc/group"
chmod -R u=rwX,go=rX "$base/etc" "$base/usr"
echo ">> image base files in $out"
