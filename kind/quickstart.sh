#!/usr/bin/env bash
# Tributary on a local kind cluster (needs Docker, kind and kubectl; not run by CI, which has
# no Docker: tests/e2e/compose_kind_test.py checks the objects this script applies with
# `kubectl apply --dry-run=server` against the test control plane, through `apply` below).
#
#   kind/quickstart.sh            create the cluster, build and load the image, apply, smoke test
#   kind/quickstart.sh apply [kubectl apply flags...]
#                                 only apply the manifests (to the current kubectl context)
#   kind/quickstart.sh operator   the same cluster run by the operator instead: create the kind
#                                 cluster, build and load both images, apply
#                                 manifests/operator.yaml and manifests/kafkacluster.yaml, wait for
#                                 Ready, smoke test (not with `up` in the same namespace: the
#                                 objects have the same names)
#   kind/quickstart.sh delete     delete the kind cluster
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=tributary
namespace="${TRIBUTARY_NAMESPACE:-tributary}"
version=$(sed -n 's/^project(tributary VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
image="localhost/tributary-broker:$version"
operator_image="localhost/tributary-operator:$version"

# Everything the quick start applies: the namespace, then the seeds' cluster from manifests/ in
# it (not manifests/operator.yaml and kafkacluster.yaml: they are the operator's install).
apply() {
  kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply "$@" -f -
  kubectl apply "$@" -n "$namespace" -f manifests/configmap.yaml -f manifests/coordinator.yaml \
    -f manifests/broker.yaml
}

# A kind cluster with these images built and loaded into it.
cluster_with_images() {
  command -v kind >/dev/null && command -v kubectl >/dev/null && command -v docker >/dev/null || {
    echo "quickstart: needs kind, kubectl and docker on PATH" >&2; exit 1; }
  kind get clusters 2>/dev/null | grep -qx "$cluster" || kind create cluster --config kind/cluster.yaml
  for dockerfile_image in "$@"; do
    docker build -f "${dockerfile_image%%=*}" -t "${dockerfile_image#*=}" .
    kind load docker-image --name "$cluster" "${dockerfile_image#*=}"
  done
}

smoke_test() {
  echo "quickstart: producing and consuming through the brokers' pod DNS names"
  kubectl -n "$namespace" run kcat-smoke --rm -i --restart=Never --image=docker.io/edenhill/kcat:1.7.1 \
    --command -- sh -c '
      b=tributary-bootstrap:9092
      echo "hello from kind" | kcat -b "$b" -P -t quickstart
      kcat -b "$b" -C -t quickstart -c 1 -e'
}

case "${1:-up}" in
  up)
    cluster_with_images "Dockerfile.broker=$image"
    apply
    kubectl -n "$namespace" rollout status statefulset/tributary-coordinator --timeout=180s
    kubectl -n "$namespace" rollout status statefulset/tributary-broker --timeout=300s
    smoke_test
    echo "quickstart: ready. In the cluster, clients bootstrap from tributary-bootstrap.$namespace:9092"
    ;;
  operator)
    cluster_with_images "Dockerfile.broker=$image" "Dockerfile.operator=$operator_image"
    kubectl apply -f manifests/operator.yaml
    kubectl wait --for=condition=Established crd/kafkaclusters.tributary.io --timeout=60s
    kubectl -n tributary-system rollout status deployment/tributary-operator --timeout=180s
    kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f -
    kubectl apply -n "$namespace" -f manifests/kafkacluster.yaml
    kubectl -n "$namespace" wait --for=condition=Ready kafkacluster/tributary --timeout=300s
    kubectl -n "$namespace" get kafkacluster tributary
    smoke_test
    echo "quickstart: ready. In the cluster, clients bootstrap from tributary-bootstrap.$namespace:9092"
    ;;
  apply)
    shift
    apply "$@"
    ;;
  delete)
    kind delete cluster --name "$cluster"
    ;;
  *)
    echo "usage: $0 [up|apply [kubectl apply flags]|operator|delete]" >&2
    exit 2
    ;;
esac
