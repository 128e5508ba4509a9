#!/usr/bin/env bash
# Installs everything Tributary needs to build, run, test and benchmark, on Debian bookworm,
# as root. Idempotent: packages already present are left alone, and the script is quick then.
#
#   scripts/install-deps.sh          everything (scripts/test.sh)
#   scripts/install-deps.sh --base   all but the Kubernetes binaries, which only the e2e tests use
#                                    and whose first build takes minutes (scripts/build.sh, run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
kubernetes=1
[ "${1:-}" = --base ] && kubernetes=0

packages=(
  # toolchain
  build-essential cmake ninja-build ccache clang libclang-rt-14-dev pkg-config
  # libraries the programs link
  # (each Dockerfile's build stage installs these too: tests/images/dockerfile_sources.py checks it)
  libboost-dev libboost-system-dev libyaml-cpp-dev libspdlog-dev libfmt-dev prometheus-cpp-dev libcpprest-dev libssl-dev
  zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev
  # tests and benchmarks (librdkafka: the load generator, bench/loadgen.cc)
  libgtest-dev libgmock-dev libbenchmark-dev librdkafka-dev
  kcat python3-confluent-kafka python3-kafka python3-pytest python3-snappy python3-lz4 python3-zstandard
  gzip zstd lz4 burrow fio iperf3 procps curl python3-venv python3-yaml
  # the integration harness's stacks of a process that does not stop on SIGTERM (harness.py)
  gdb
  # the coordinator quorum benchmark's peers (bench/coordinator_quorum_bench.py): etcd 3.4 and
  # ZooKeeper 3.8, each run as a three-member cluster beside Tributary's coordinators
  etcd-server etcd-client zookeeper
  # the e2e tests' control plane certificates (tests/e2e/kube.py)
  openssl
  # the chart's alert rules: promtool checks and unit-tests them (tests/integration/monitoring_test.py),
  # a real Prometheus scrapes the e2e cluster with them (tests/e2e/kafkacluster_test.py)
  prometheus
)
# Container images (scripts/build-images.sh, tests/images): buildah builds and runs them
# (--isolation chroot, no daemon), podman imports the base image's tarball, debootstrap makes
# that base from Debian's archive, checked against debian-archive-keyring. As root the kernel's
# own overlay filesystem serves buildah's storage: no fuse-overlayfs or uid maps needed.
packages+=(buildah podman debootstrap debian-archive-keyring)
# Apache Kafka's tools, Java client and broker (from Maven Central, below) run on Java 17 and
# are resolved by Maven; the machine may bring both already, otherwise Debian's.
command -v java >/dev/null 2>&1 || packages+=(default-jdk-headless)
command -v mvn >/dev/null 2>&1 || packages+=(maven)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Where systemd runs, Debian's etcd-server starts a system etcd on 127.0.0.1:2379: nothing
  # here wants it (the quorum benchmark runs its own members on free ports).
  if [[ " ${missing[*]} " == *" etcd-server "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
  # Likewise Debian's prometheus starts a system Prometheus on :9090; the tests start their own.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

# Go: the franz-go and sarama tests need Go >= 1.26 (their go.mod files say so; the machine's
# /usr/local/go; Debian's golang-go is too old). GOTOOLCHAIN=local: never download another.
export PATH="$PATH:/usr/local/go/bin" GOTOOLCHAIN=local
go_version=$(go env GOVERSION 2>/dev/null || true)
if ! printf '%s\n' go1.26 "${go_version%%[!0-9.go]*}" | sort -V -C; then
  echo "install-deps: want Go >= 1.26 on PATH or in /usr/local/go, found '${go_version:-none}'" >&2
  exit 1
fi

# JavaScript test client (kafkajs), pinned by tests/integration/js/package-lock.json.
if [ -f tests/integration/js/package.json ] && [ ! -d tests/integration/js/node_modules/kafkajs ]; then
  (cd tests/integration/js && npm ci --no-audit --no-fund --silent)
fi

# Each download below is redone only when its pins change: `stale PIN STAMP` is true when STAMP
# (a copy of PIN made after the last install) is missing or differs from PIN.
stale() { [ ! -f "$2" ] || ! cmp -s "$1" "$2"; }

# `jars NAME WHAT`: the jars tools/NAME-deps/pom.xml pins (and their runtime dependencies),
# resolved by Maven (its cache: ~/.m2) into tools/lib/NAME/, which git ignores.
jars() {
  local pom=tools/$1-deps/pom.xml dir=tools/lib/$1
  if stale "$pom" "$dir/.resolved-from"; then
    echo "install-deps: resolving $2's jars (Maven)"
    rm -rf "$dir"
    mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DoutputDirectory="$PWD/$dir" \
      -DincludeScope=runtime
    cp "$pom" "$dir/.resolved-from"
  fi
}
# Apache Kafka 4.x (broker, tools, Java client); tools/kafka runs them.
jars kafka "Apache Kafka"
# Apache ZooKeeper's server: only for Burrow (tests/integration/burrow_test.py), which
# coordinates itself through it; Tributary never uses ZooKeeper.
jars zookeeper "Apache ZooKeeper"

# Java client tests (JUnit 5, tests/java): everything their Maven run needs, into ~/.m2, so the
# ctest entry runs offline (-o). dependency:go-offline alone misses what Surefire resolves only
# when tests run (its JUnit Platform provider and launcher), so this also runs the one test
# that needs no server. Build output goes to a temporary folder, not the source tree.
java_pom=tests/java/pom.xml
java_stamp=tools/lib/java-tests.resolved-from
if [ -f "$java_pom" ] && stale "$java_pom" "$java_stamp"; then
  echo "install-deps: resolving the Java client tests' dependencies (Maven)"
  java_build="$(mktemp -d)"
  mvn -q -B -Dstyle.color=never -f "$java_pom" -Dtrib.build.dir="$java_build" \
    dependency:go-offline test -Dtest=ClientDefaultsTest
  rm -rf "$java_build"
  mkdir -p tools/lib
  cp "$java_pom" "$java_stamp"
fi

# The Spring Boot example (examples/spring-kafka), pinned by its pom's parent: Spring Boot,
# Spring Kafka and the Maven plugins its package build runs, into ~/.m2, so
# tests/integration/spring_example_test.py builds it offline. Packaging it once is what resolves
# every plugin the build needs (go-offline misses some that only run then).
spring_pom=examples/spring-kafka/pom.xml
spring_stamp=tools/lib/spring-example.resolved-from
if [ -f "$spring_pom" ] && stale "$spring_pom" "$spring_stamp"; then
  echo "install-deps: resolving the Spring Boot example's dependencies (Maven)"
  spring_build="$(mktemp -d)"
  mvn -q -B -Dstyle.color=never -f "$spring_pom" -Dtrib.build.dir="$spring_build" dependency:go-offline package
  rm -rf "$spring_build"
  mkdir -p tools/lib
  cp "$spring_pom" "$spring_stamp"
fi

# Go clients (franz-go, sarama), pinned by tests/integration/go/go.sum; the module cache
# (~/go/pkg/mod) keeps them between runs. Compiling the tests once (running none) fills Go's
# build cache, so ctest's `go test` (offline, GOPROXY=off) only links.
go_sum=tests/integration/go/go.sum
go_stamp=tools/lib/go-tests.resolved-from
if [ -f "$go_sum" ] && stale "$go_sum" "$go_stamp"; then
  echo "install-deps: downloading and compiling the Go client tests' modules"
  (cd tests/integration/go && go mod download && go vet ./... && go test -count=1 -run '^$' ./... >/dev/null)
  mkdir -p tools/lib
  cp "$go_sum" "$go_stamp"
fi

# The quorum benchmark's etcd client (bench/etcd_client), pinned by its go.sum: its modules
# downloaded once, so the benchmark's build of it (into ~/.cache/tributary/) works offline.
etcd_sum=bench/etcd_client/go.sum
etcd_stamp=tools/lib/etcd-client.resolved-from
if [ -f "$etcd_sum" ] && stale "$etcd_sum" "$etcd_stamp"; then
  echo "install-deps: downloading the quorum benchmark's etcd client modules"
  (cd bench/etcd_client && go mod download && go vet .)
  mkdir -p tools/lib
  cp "$etcd_sum" "$etcd_stamp"
fi

# The node agent (tests/platform/node-agent, the kubelet stand-in of the e2e tests), pinned by
# its go.sum: download its modules and compile it and its tests once, so the e2e fixture's
# offline `go build` (GOPROXY=off) only links.
agent_sum=tests/platform/node-agent/go.sum
agent_stamp=tools/lib/node-agent.resolved-from
if [ -f "$agent_sum" ] && stale "$agent_sum" "$agent_stamp"; then
  echo "install-deps: downloading and compiling the node agent's modules"
  (cd tests/platform/node-agent && go mod download && go vet ./... && go test -count=1 -run '^$' ./... >/dev/null \
    && go build -o /dev/null .)
  mkdir -p tools/lib
  cp "$agent_sum" "$agent_stamp"
fi

# The newest confluent-kafka from PyPI (its wheel carries a current librdkafka) in a virtual
# environment beside Debian's python3-confluent-kafka 1.7 (librdkafka 2.0.2), so the tests run
# on two generations of librdkafka. Debian's pytest and kafka-python stay visible in it.
venv=tools/venv
if stale tools/requirements-pypi.txt "$venv/.installed"; then
  echo "install-deps: making $venv (PyPI confluent-kafka)"
  rm -rf "$venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tools/requirements-pypi.txt
  cp tools/requirements-pypi.txt "$venv/.installed"
fi

# Kubernetes control plane for the e2e tests (tests/platform/kube/README.md): kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, etcd and helm, compiled from the Go module
# proxy at the versions tests/platform/kube/*/go.sum pin, into
# ~/.cache/tributary/kube/<key of the pins>. build.sh keeps its own stamp there and returns at
# once when the pins have not changed; the first build takes about 13 minutes on 2 cores.
if [ "$kubernetes" = 1 ]; then
  tests/platform/kube/build.sh >/dev/null
fi
