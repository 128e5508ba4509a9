#!/usr/bin/env bash
# Builds Tributary's container images with buildah (no Docker engine needed), as root:
#   localhost/tributary-base:bookworm        Debian bookworm minbase, made here by debootstrap
#   localhost/tributary-broker:<version>     Dockerfile.broker: tributary-broker + tributary-coordinator
#   localhost/tributary-operator:<version>   Dockerfile.operator: tributary-operator
# (<version> is the project() version in CMakeLists.txt; both are tagged :latest too.)
# Prints each image's size and how long each step took.
#
# --prebuilt DIR: the images take the programs from DIR, a Release CMake build tree inside this
# checkout (scripts/build.sh makes build/), stripped, instead of compiling them a second time
# in the Dockerfiles' build stage. Only on a Debian bookworm host, whose packages the image's
# base has: `ldd` in tests/images checks each program finds its libraries there. The test
# command uses it; the image's label tributary.binaries says which way it was built.
#
# Quick when nothing changed: the base is made only when no image carries the current recipe
# (its label tributary.base.recipe), re-imported from the cached tarball in
# ${XDG_CACHE_HOME:-~/.cache}/tributary/images/ when storage was wiped; `buildah bud --layers`
# reuses every unchanged step, and the compiles go through a ccache cache mount (buildah keeps
# it in /var/tmp/buildah-cache/tributary-ccache). Layers of earlier builds stay in buildah's
# storage as the cache; `buildah rmi --prune` frees them, and the next build starts over.
#
# Environment: TRIB_DEBIAN_MIRROR (default http://deb.debian.org/debian) and
# TRIB_DEBIAN_SECURITY_MIRROR (default http://deb.debian.org/debian-security), also written
# into the base's sources.list for the Dockerfiles' apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
prebuilt=
case "${1:-}" in
  --prebuilt) prebuilt="${2:?build-images: --prebuilt needs a build directory}" ;;
  "") ;;
  *) echo "usage: scripts/build-images.sh [--prebuilt BUILD_DIR]" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "build-images: run as root (debootstrap and buildah's chroot isolation need it)" >&2; exit 1; }
version=$(sed -n 's/^project(tributary VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || { echo "build-images: no 'project(tributary VERSION x.y.z' in CMakeLists.txt" >&2; exit 1; }
for tool in buildah podman debootstrap; do
  command -v "$tool" >/dev/null || { echo "build-images: $tool missing: run scripts/install-deps.sh" >&2; exit 1; }
done
cache="${XDG_CACHE_HOME:-$HOME/.cache}/tributary/images"
mkdir -p "$cache"
mirror="${TRIB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${TRIB_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
base=localhost/tributary-base:bookworm

now() { date +%s%N; }
took() { local ds=$((($(now) - $1) / 100000000)); echo "$((ds / 10)).$((ds % 10)) s"; }

# --- base image -----------------------------------------------------------------------------
# The recipe is everything that decides the base's content; a change to it (this function or
# the mirrors) makes a new base. Its hash names the tarball and labels the image.
make_rootfs() {
  local rootfs=$1
  debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; return 1; }
  # Updates and security fixes too, as the host's apt has them; lists are fetched by each
  # Dockerfile's first apt-get update, not kept in the image.
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
    "$mirror" "$mirror" "$security_mirror" >"$rootfs/etc/apt/sources.list"
  # Packages installed later leave no docs, man pages or translations (licences stay), and
  # apt neither pulls recommends nor keeps downloaded .debs.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-tributary-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/01-tributary-slim" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
EOF
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/log/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
}
recipe=$( { declare -f make_rootfs; echo "$mirror $security_mirror"; } | sha256sum | cut -c1-16)
tarball="$cache/tributary-base-bookworm-$recipe.tar"

label=$(podman image inspect --format '{{index .Labels "tributary.base.recipe"}}' "$base" 2>/dev/null || true)
if [ "$label" != "$recipe" ]; then
  t=$(now)
  if [ ! -f "$tarball" ]; then
    echo "build-images: making the base rootfs with debootstrap (bookworm minbase, $mirror)"
    work=$(mktemp -d "$cache/rootfs.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    make_rootfs "$work/rootfs"
    tar -C "$work/rootfs" -cf "$work/base.tar" .
    mv "$work/base.tar" "$tarball"
    rm -rf "$work"
    trap - EXIT
    find "$cache" -maxdepth 1 -name 'tributary-base-bookworm-*.tar' ! -name "${tarball##*/}" -delete
  fi
  podman import --quiet --change "LABEL tributary.base.recipe=$recipe" \
    --change 'LABEL org.opencontainers.image.title=tributary-base' \
    --change 'CMD ["/bin/bash"]' "$tarball" "$base" >/dev/null
  echo "build-images: $base: $(took "$t")"
else
  echo "build-images: $base: up to date"
fi

# --- broker and operator images -------------------------------------------------------------
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || revision="$revision-dirty"
# The repository's address, when it has one (the OCI source label); the repository names no
# licence, so the images say NOASSERTION (SPDX) rather than guess one.
source_url=$(git remote get-url origin 2>/dev/null || true)
# The programs of each image, as paths in a build tree.
declare -A programs=([broker]="broker/tributary-broker coordinator/tributary-coordinator"
  [operator]="operator/tributary-operator")
if [ -n "$prebuilt" ]; then
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ "$codename" = bookworm ] ||
    { echo "build-images: --prebuilt needs a Debian bookworm host, like the images (this is '$codename')" >&2; exit 1; }
  grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' "$prebuilt/CMakeCache.txt" 2>/dev/null &&
    ! grep -qx 'TRIB_SANITIZE:BOOL=ON' "$prebuilt/CMakeCache.txt" ||
    { echo "build-images: --prebuilt $prebuilt: not a Release build tree without sanitizers (scripts/build.sh makes one)" >&2; exit 1; }
  relative=$(realpath --relative-to=. "$prebuilt")
  case "$relative" in ..*) echo "build-images: --prebuilt $prebuilt: must be inside $PWD, the build context" >&2; exit 1 ;; esac
fi
for name in broker operator; do
  image=localhost/tributary-$name
  t=$(now)
  from=(--build-arg BINARIES=build --build-arg JOBS="$(nproc)")
  if [ -n "$prebuilt" ]; then
    staged="$relative/image-bin/$name"
    rm -rf "$staged" && mkdir -p "$staged"
    for program in ${programs[$name]}; do
      [ -x "$prebuilt/$program" ] || { echo "build-images: $prebuilt/$program missing: build it first" >&2; exit 1; }
      strip -o "$staged/${program##*/}" "$prebuilt/$program"
    done
    from=(--build-arg BINARIES=prebuilt --build-arg PREBUILT_DIR="$staged")
  fi
  echo "build-images: building $image:$version (Dockerfile.$name, programs from ${prebuilt:-its build stage})"
  log="$cache/build-$name.log"
  if ! buildah bud --isolation chroot --layers "${from[@]}" \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    --build-arg SOURCE="$source_url" \
    -f "Dockerfile.$name" -t "$image:$version" -t "$image:latest" . >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "build-images: building $image failed; whole log: $log" >&2
    exit 1
  fi
  echo "build-images: $image:$version: $(took "$t")"
done

# The sizes as podman lists them (uncompressed, all layers).
echo "build-images: sizes:"
for image in "$base" "localhost/tributary-broker:$version" "localhost/tributary-operator:$version"; do
  printf '  %-44s %s\n' "$image" "$(podman image inspect --format '{{.Size}}' "$image" | numfmt --to=si --suffix=B)"
done
