#!/usr/bin/env bash
# Builds the Kubernetes control plane the e2e tests run (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl), etcd (+ etcdctl) and helm from the Go modules beside this script, at
# the versions their go.mod/go.sum pin, into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/tributary/kube/<key>/bin
# where <key> is a hash of the pins (every go.mod and go.sum here, and this script). When that
# folder is complete already (its stamp exists) nothing is done, so it is cheap to call often.
#
#   build.sh            build if needed, then print the bin folder
#   build.sh --bin-dir  only print the bin folder (it may not exist yet); tests/e2e/kube.py uses it
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

key=$(cd "$here" && cat build.sh kubernetes/go.mod kubernetes/go.sum etcd/go.mod etcd/go.sum \
        helm/go.mod helm/go.sum | sha256sum | cut -c1-16)
dest="${XDG_CACHE_HOME:-$HOME/.cache}/tributary/kube/$key"
if [ "${1:-}" = "--bin-dir" ]; then echo "$dest/bin"; exit 0; fi
if [ -f "$dest/built" ]; then echo "$dest/bin"; exit 0; fi

echo "kube/build.sh: building the pinned Kubernetes, etcd and helm into $dest (about 13 min on 2 cores the first time)" >&2
export PATH="$PATH:/usr/local/go/bin" GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly"
stage="$dest/bin.partial"
rm -rf "$stage"
mkdir -p "$stage"

# build DIR NAME PACKAGE LDFLAGS: one binary, timed. nice: other builds share the machine.
build() {
  local start=$SECONDS
  (cd "$here/$1" && nice go build -p 2 -trimpath -ldflags "-s -w $4" -o "$stage/$2" "$3")
  echo "kube/build.sh: $2 built in $((SECONDS - start)) s" >&2
}

# Module downloads first, so their time is not counted as build time.
start=$SECONDS
for m in kubernetes etcd helm; do (cd "$here/$m" && go mod download); done
echo "kube/build.sh: modules downloaded in $((SECONDS - start)) s" >&2

# Version strings go in with -X, as Kubernetes' hack/lib/version.sh does; without them
# --version prints a placeholder. buildDate is the release's commit time (from the module
# proxy), so the same pins give the same binaries.
kv=$(cd "$here/kubernetes" && go list -m -f '{{.Version}}' k8s.io/kubernetes)        # v1.37.2
kdate=$(cd "$here/kubernetes" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
kmajor=${kv#v}; kmajor=${kmajor%%.*}
kminor=${kv#v*.}; kminor=${kminor%%.*}
kld=""
for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  kld+=" -X $p.gitVersion=$kv -X $p.gitMajor=$kmajor -X $p.gitMinor=$kminor"
  kld+=" -X $p.gitTreeState=clean -X $p.buildDate=$kdate"
done
hv=$(cd "$here/helm" && go list -m -f '{{.Version}}' helm.sh/helm/v4)

total=$SECONDS
# kube-apiserver first: the others reuse most of what it compiles.
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build kubernetes "$c" "k8s.io/kubernetes/cmd/$c" "$kld"
done
build etcd etcd go.etcd.io/etcd/server/v3 ""
build etcd etcdctl go.etcd.io/etcd/etcdctl/v3 ""
build helm helm helm.sh/helm/v4/cmd/helm "-X helm.sh/helm/v4/internal/version.version=$hv"
echo "kube/build.sh: all built in $((SECONDS - total)) s" >&2

rm -rf "$dest/bin"
mv "$stage" "$dest/bin"
printf 'kubernetes %s\nhelm %s\n' "$kv" "$hv" > "$dest/built"
# Binaries for older pins are ~460 MB a set; keep only this one.
for old in "$(dirname "$dest")"/*/; do
  [ "$(basename "$old")" = "$key" ] || rm -rf "$old"
done
echo "$dest/bin"
