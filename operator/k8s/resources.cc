#include "operator/k8s/api.h"

namespace trib::op::k8s::resources {

const resource config_maps{"", "v1", "configmaps", "ConfigMap"};
const resource secrets{"", "v1", "secrets", "Secret"};
const resource services{"", "v1", "services", "Service"};
const resource pods{"", "v1", "pods", "Pod"};
const resource persistent_volume_claims{"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"};
const resource events{"", "v1", "events", "Event"};
const resource nodes{"", "v1", "nodes", "Node", false};
const resource stateful_sets{"apps", "v1", "statefulsets", "StatefulSet"};
const resource pod_disruption_budgets{"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"};
const resource network_policies{"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"};
const resource leases{"coordination.k8s.io", "v1", "leases", "Lease"};
const resource kafka_clusters{"tributary.io", "v1alpha1", "kafkaclusters", "KafkaCluster"};
const resource kafka_users{"tributary.io", "v1alpha1", "kafkausers", "KafkaUser"};
const resource certificates{"cert-manager.io", "v1", "certificates", "Certificate"};  // cert-manager

} // namespace trib::op::k8s::resources
