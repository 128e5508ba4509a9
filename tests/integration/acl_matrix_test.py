"""ACL matrix: every API that checks authorization, asked by a client principal with no ACL
(denied) and again with the narrowest ACL that allows it (allowed), on Tributary and on Apache
Kafka 4.4 (apache_kafka.py) alike, and the answers compared field by field: every error code,
every topic, partition, group and resource name listed (so which ones are hidden), and the
authorized-operations bit fields (Metadata, DescribeCluster, DescribeGroups,
ConsumerGroupDescribe).

Both servers run the standard authorizer with `User:admin` as super user (set-up: topics,
groups, the ACLs) and a SASL_PLAINTEXT listener for clients beside the PLAINTEXT one brokers
use (trusted on both: Kafka's broker principal `User:ANONYMOUS` is a super user there). Each
case has a principal of its own (`User:<case>`) and topic, group and transactional id names of
its own (`m-<case>`), so one case's ACLs never allow another's request.

The module runs each phase for all cases at once: set-up, every case denied, one CreateAcls
with every case's ACLs (waited for with DescribeAcls), every case allowed; then one test per
case compares. Requests are raw (kafka_wire.py, from protocol/defs), one connection per case
and phase. A difference that is deliberate is listed in EXPECTED_DIFFERENCES with its reason
(and described in docs/differences-from-kafka.md, ACLs); a listed case that no longer differs fails.
"""
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apache_kafka import ApacheKafka  # noqa: E402
from harness import free_port, start_sasl_broker  # noqa: E402
from kafka_wire import Connection  # noqa: E402

from kafka.record.default_records import DefaultRecordBatchBuilder  # noqa: E402
from kafka.record.memory_records import MemoryRecordsBuilder  # noqa: E402

STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
WAIT_S = 30

# resource types and operations (Kafka's wire codes)
TOPIC, GROUP, CLUSTER, TXN = 2, 3, 4, 5
READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE = 3, 4, 5, 6, 7, 8
CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE = 9, 10, 11, 12
LITERAL, ALLOW = 3, 3
TOPIC_AUTHORIZATION_FAILED = 29
BROKER_RESOURCE = 4  # ConfigResource type of a broker
# error codes a case waits out (a coordinator still loading, a topic still getting a leader)
RETRIABLE = {5, 14, 15}


# ---- the cases -------------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    acls: list            # [(resource type, "topic"|"group"|"txn"|"cluster", operation)]
    request: object       # request(conn, ctx) -> the answer, normalized
    setup: tuple = ()     # "topic", "group" (a group with a committed offset), "hidden" (a
                          # topic m-<case>-hidden no ACL names)
    retry: bool = True    # answers with a RETRIABLE error asked again

    @property
    def principal(self):
        return f"User:{self.name}"


CASES = []


def case(name, acls, setup=(), retry=True):
    def add(fn):
        CASES.append(Case(name, acls, fn, tuple(setup), retry))
        return fn
    return add


@dataclass
class Ctx:
    """What a case's request needs: its names and the server's node id."""
    case: str
    node_id: int
    notes: dict = field(default_factory=dict)

    @property
    def topic(self):
        return f"m-{self.case}"

    group = topic
    txn = topic


# Fields compared: error codes, authorized operations, and what names an entry.
KEEP = {"Name", "Topic", "TopicName", "GroupId", "PartitionIndex", "Index", "Partition",
        "ResourceType", "ResourceName", "Key", "GroupState", "User", "PatternType", "Principal",
        "exists"}


def norm(value):
    """A response reduced to what the matrix compares; lists sorted (order is not compared)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, list) and v and not isinstance(v[0], dict) and k not in KEEP:
                continue  # replica lists, offsets and the like
            if isinstance(v, list) or isinstance(v, dict):
                n = norm(v)
                if n not in ([], {}, None):
                    out[k] = n
            elif "ErrorCode" in k or k.endswith("AuthorizedOperations") or k in KEEP:
                out[k] = v
        return out
    if isinstance(value, list):
        items = [norm(x) for x in value]
        items = [x for x in items if x not in ({}, [], None) and not _internal(x)]
        return sorted(items, key=repr)
    return value


def _internal(x):
    return isinstance(x, dict) and any(isinstance(x.get(k), str) and x[k].startswith("__")
                                       for k in ("Name", "Topic", "TopicName", "GroupId"))


def batch():
    b = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
    b.append(timestamp=int(time.time() * 1000), key=None, value=b"v")
    b.close()
    return bytes(b.buffer())


def one_partition(ctx, **extra):
    return [{"Name": ctx.topic, "Partitions": [{"PartitionIndex": 0, **extra}]}]


@case("produce", [(TOPIC, "topic", WRITE)], setup=["topic"])
def _produce(c, ctx):
    return c.call("Produce", 9, {"Acks": 1, "TimeoutMs": 10000, "TopicData": [
        {"Name": ctx.topic, "PartitionData": [{"Index": 0, "Records": batch()}]}]})


@case("produce_transactional", [(TXN, "txn", WRITE), (TOPIC, "topic", WRITE)], setup=["topic"], retry=False)
def _produce_txn(c, ctx):
    # a non-transactional batch under a transactional id: past the authorizer, refused
    return c.call("Produce", 9, {"TransactionalId": ctx.txn, "Acks": 1, "TimeoutMs": 10000, "TopicData": [
        {"Name": ctx.topic, "PartitionData": [{"Index": 0, "Records": batch()}]}]})


@case("produce_transactional_batch", [(TXN, "txn", WRITE), (TOPIC, "topic", WRITE)], setup=["topic"], retry=False)
def _produce_txn_batch(c, ctx):
    # a transactional batch: the transactional id is checked first
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=True, producer_id=1000,
                                  producer_epoch=0, base_sequence=0, batch_size=1 << 20)
    b.append(0, timestamp=int(time.time() * 1000), key=None, value=b"v", headers=[])
    return c.call("Produce", 9, {"TransactionalId": ctx.txn, "Acks": 1, "TimeoutMs": 10000, "TopicData": [
        {"Name": ctx.topic, "PartitionData": [{"Index": 0, "Records": bytes(b.build())}]}]})


def fetch(c, ctx, replica_id):
    return c.call("Fetch", 12, {"ReplicaId": replica_id, "MaxWaitMs": 0, "MinBytes": 0, "Topics": [
        {"Topic": ctx.topic, "Partitions": [{"Partition": 0, "FetchOffset": 0, "PartitionMaxBytes": 1 << 20}]}]})


@case("fetch", [(TOPIC, "topic", READ)], setup=["topic"])
def _fetch(c, ctx):
    return fetch(c, ctx, -1)


@case("fetch_follower", [(CLUSTER, "cluster", CLUSTER_ACTION)], setup=["topic"])
def _fetch_follower(c, ctx):
    return fetch(c, ctx, ctx.node_id + 1000)


@case("list_offsets", [(TOPIC, "topic", DESCRIBE)], setup=["topic"])
def _list_offsets(c, ctx):
    return c.call("ListOffsets", 7, {"ReplicaId": -1, "Topics": one_partition(ctx, Timestamp=-1)})


@case("offset_for_leader_epoch", [(TOPIC, "topic", DESCRIBE)], setup=["topic"])
def _ofle(c, ctx):
    return c.call("OffsetForLeaderEpoch", 4, {"ReplicaId": -1, "Topics": [
        {"Topic": ctx.topic, "Partitions": [{"Partition": 0, "LeaderEpoch": 0}]}]})


@case("offset_for_leader_epoch_follower", [(CLUSTER, "cluster", CLUSTER_ACTION)], setup=["topic"])
def _ofle_follower(c, ctx):
    return c.call("OffsetForLeaderEpoch", 4, {"ReplicaId": ctx.node_id + 1000, "Topics": [
        {"Topic": ctx.topic, "Partitions": [{"Partition": 0, "LeaderEpoch": 0}]}]})


def describe_producers(c, ctx):
    return c.call("DescribeProducers", 0, {"Topics": [{"Name": ctx.topic, "PartitionIndexes": [0, 7]}]})


@case("describe_producers", [(TOPIC, "topic", READ)], setup=["topic"])
def _describe_producers(c, ctx):
    # partition 7 doesn't exist: refused as unauthorized first, then unknown
    return describe_producers(c, ctx)


@case("describe_producers_unknown_topic", [(TOPIC, "topic", READ)])
def _describe_producers_unknown_topic(c, ctx):
    return describe_producers(c, ctx)


@case("metadata_topic", [(TOPIC, "topic", DESCRIBE)], setup=["topic"])
def _metadata_topic(c, ctx):
    return c.call("Metadata", 12, {"Topics": [{"Name": ctx.topic}], "AllowAutoTopicCreation": False,
                                   "IncludeTopicAuthorizedOperations": True})


@case("metadata_all", [(TOPIC, "topic", DESCRIBE)], setup=["topic"])
def _metadata_all(c, ctx):
    r = c.call("Metadata", 12, {"Topics": None, "IncludeTopicAuthorizedOperations": True})
    r["Topics"] = [t for t in r["Topics"] if t["Name"] == ctx.topic]
    return r


@case("metadata_topic_operations", [(TOPIC, "topic", READ), (TOPIC, "topic", WRITE), (TOPIC, "topic", ALTER_CONFIGS)],
      setup=["topic"])
def _metadata_topic_operations(c, ctx):
    # several operations, and those they imply (DESCRIBE, DESCRIBE_CONFIGS), in the bit field
    return _metadata_topic(c, ctx)


@case("metadata_unknown_topic", [(TOPIC, "topic", DESCRIBE)])
def _metadata_unknown_topic(c, ctx):
    return c.call("Metadata", 12, {"Topics": [{"Name": ctx.topic}], "AllowAutoTopicCreation": False,
                                   "IncludeTopicAuthorizedOperations": True})


@case("metadata_cluster_operations", [(CLUSTER, "cluster", DESCRIBE)])
def _metadata_cluster_operations(c, ctx):
    r = c.call("Metadata", 10, {"Topics": [], "IncludeClusterAuthorizedOperations": True})
    return {"ClusterAuthorizedOperations": r["ClusterAuthorizedOperations"]}


@case("metadata_auto_create", [(TOPIC, "topic", DESCRIBE), (TOPIC, "topic", CREATE)])
def _metadata_auto_create(c, ctx):
    def ask(auto):
        return c.call("Metadata", 12, {"Topics": [{"Name": ctx.topic}], "AllowAutoTopicCreation": auto})
    code = ask(True)["Topics"][0]["ErrorCode"]
    if code == TOPIC_AUTHORIZATION_FAILED:
        return {"ErrorCode": code}
    # Kafka answers UNKNOWN_TOPIC_OR_PARTITION or LEADER_NOT_AVAILABLE while the topic is being
    # made, a matter of timing: what counts is that it comes to exist
    exists = False
    deadline = time.monotonic() + 10
    while not exists and time.monotonic() < deadline:
        exists = ask(False)["Topics"][0]["ErrorCode"] in (0, 5)
        time.sleep(0.1)
    return {"ErrorCode": "created" if code in (0, 3, 5) else code, "exists": exists}


@case("create_topics", [(TOPIC, "topic", CREATE)])
def _create_topics(c, ctx):
    return c.call("CreateTopics", 7, {"Topics": [{"Name": ctx.topic, "NumPartitions": 1, "ReplicationFactor": 1}],
                                      "timeoutMs": 10000})


@case("delete_topics", [(TOPIC, "topic", DELETE)], setup=["topic"])
def _delete_topics(c, ctx):
    r = c.call("DeleteTopics", 6, {"Topics": [{"Name": ctx.topic}], "TimeoutMs": 10000})
    return r


@case("create_partitions", [(TOPIC, "topic", ALTER)], setup=["topic"])
def _create_partitions(c, ctx):
    return c.call("CreatePartitions", 3, {"Topics": [{"Name": ctx.topic, "Count": 2, "Assignments": None}],
                                          "TimeoutMs": 10000, "ValidateOnly": True})


@case("delete_records", [(TOPIC, "topic", DELETE)], setup=["topic"])
def _delete_records(c, ctx):
    return c.call("DeleteRecords", 2, {"Topics": [{"Name": ctx.topic, "Partitions": [
        {"PartitionIndex": 0, "Offset": 0}]}], "TimeoutMs": 10000})


def broker_name(ctx):
    return str(ctx.node_id)


def without_broker_name(r):
    for res in r.get("Results") or r.get("Responses") or []:
        if res.get("ResourceType") == BROKER_RESOURCE:
            res["ResourceName"] = "<node id>"
    return r


@case("describe_configs_topic", [(TOPIC, "topic", DESCRIBE_CONFIGS)], setup=["topic"])
def _describe_configs_topic(c, ctx):
    r = c.call("DescribeConfigs", 4, {"Resources": [
        {"ResourceType": TOPIC, "ResourceName": ctx.topic, "ConfigurationKeys": ["retention.ms"]}]})
    return r


@case("describe_configs_broker", [(CLUSTER, "cluster", DESCRIBE_CONFIGS)])
def _describe_configs_broker(c, ctx):
    r = c.call("DescribeConfigs", 4, {"Resources": [
        {"ResourceType": BROKER_RESOURCE, "ResourceName": broker_name(ctx), "ConfigurationKeys": ["num.partitions"]}]})
    return without_broker_name(r)


@case("alter_configs_topic", [(TOPIC, "topic", ALTER_CONFIGS)], setup=["topic"])
def _alter_configs_topic(c, ctx):
    return c.call("AlterConfigs", 2, {"Resources": [
        {"ResourceType": TOPIC, "ResourceName": ctx.topic, "Configs": [{"Name": "retention.ms", "Value": "100000"}]}],
        "ValidateOnly": True})


@case("alter_configs_broker", [(CLUSTER, "cluster", ALTER_CONFIGS)])
def _alter_configs_broker(c, ctx):
    return without_broker_name(c.call("AlterConfigs", 2, {"Resources": [
        {"ResourceType": BROKER_RESOURCE, "ResourceName": broker_name(ctx), "Configs": []}], "ValidateOnly": True}))


@case("incremental_alter_configs_topic", [(TOPIC, "topic", ALTER_CONFIGS)], setup=["topic"])
def _iac_topic(c, ctx):
    return c.call("IncrementalAlterConfigs", 1, {"Resources": [
        {"ResourceType": TOPIC, "ResourceName": ctx.topic,
         "Configs": [{"Name": "retention.ms", "ConfigOperation": 0, "Value": "100000"}]}], "ValidateOnly": True})


@case("incremental_alter_configs_broker", [(CLUSTER, "cluster", ALTER_CONFIGS)])
def _iac_broker(c, ctx):
    return without_broker_name(c.call("IncrementalAlterConfigs", 1, {"Resources": [
        {"ResourceType": BROKER_RESOURCE, "ResourceName": broker_name(ctx), "Configs": []}], "ValidateOnly": True}))


@case("offset_commit", [(GROUP, "group", READ), (TOPIC, "topic", READ)], setup=["topic"])
def _offset_commit(c, ctx):
    return c.call("OffsetCommit", 8, {"GroupId": ctx.group, "GenerationIdOrMemberEpoch": -1, "MemberId": "",
                                      "Topics": [{"Name": ctx.topic, "Partitions": [
                                          {"PartitionIndex": 0, "CommittedOffset": 0, "CommittedMetadata": ""}]}]})


@case("offset_commit_group_only", [(GROUP, "group", READ)], setup=["topic"])
def _offset_commit_group_only(c, ctx):
    return _offset_commit(c, ctx)


@case("offset_fetch", [(GROUP, "group", DESCRIBE), (TOPIC, "topic", DESCRIBE)], setup=["topic", "group"])
def _offset_fetch(c, ctx):
    return c.call("OffsetFetch", 8, {"Groups": [{"GroupId": ctx.group, "Topics": [
        {"Name": ctx.topic, "PartitionIndexes": [0]}]}]})


@case("offset_fetch_all", [(GROUP, "group", DESCRIBE)], setup=["topic", "group"])
def _offset_fetch_all(c, ctx):
    # all topics: the ones the principal may not DESCRIBE are left out
    return c.call("OffsetFetch", 8, {"Groups": [{"GroupId": ctx.group, "Topics": None}]})


@case("find_coordinator_group", [(GROUP, "group", DESCRIBE)])
def _find_coordinator_group(c, ctx):
    return c.call("FindCoordinator", 4, {"KeyType": 0, "CoordinatorKeys": [ctx.group]})


@case("find_coordinator_transaction", [(TXN, "txn", DESCRIBE)], retry=False)
def _find_coordinator_txn(c, ctx):
    return c.call("FindCoordinator", 4, {"KeyType": 1, "CoordinatorKeys": [ctx.txn]})


@case("join_group", [(GROUP, "group", READ)])
def _join_group(c, ctx):
    # a first join without a member id: MEMBER_ID_REQUIRED once authorized
    r = c.call("JoinGroup", 9, {"GroupId": ctx.group, "SessionTimeoutMs": 10000, "RebalanceTimeoutMs": 10000,
                                "MemberId": "", "ProtocolType": "consumer",
                                "Protocols": [{"Name": "range", "Metadata": b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}]})
    return {"ErrorCode": r["ErrorCode"]}


@case("sync_group", [(GROUP, "group", READ)])
def _sync_group(c, ctx):
    r = c.call("SyncGroup", 5, {"GroupId": ctx.group, "GenerationId": 1, "MemberId": "nobody",
                                "ProtocolType": "consumer", "ProtocolName": "range", "Assignments": []})
    return {"ErrorCode": r["ErrorCode"]}


@case("heartbeat", [(GROUP, "group", READ)], setup=["topic", "group"])
def _heartbeat(c, ctx):
    return c.call("Heartbeat", 4, {"GroupId": ctx.group, "GenerationId": 1, "MemberId": "nobody"})


@case("leave_group", [(GROUP, "group", READ)], setup=["topic", "group"])
def _leave_group(c, ctx):
    return c.call("LeaveGroup", 5, {"GroupId": ctx.group, "Members": [{"MemberId": "nobody"}]})


@case("describe_groups", [(GROUP, "group", DESCRIBE)], setup=["topic", "group"])
def _describe_groups(c, ctx):
    return c.call("DescribeGroups", 5, {"Groups": [ctx.group], "IncludeAuthorizedOperations": True})


@case("describe_groups_operations", [(GROUP, "group", READ), (GROUP, "group", DELETE)], setup=["topic", "group"])
def _describe_groups_operations(c, ctx):
    return _describe_groups(c, ctx)


@case("list_groups", [(GROUP, "group", DESCRIBE)], setup=["topic", "group"])
def _list_groups(c, ctx):
    r = c.call("ListGroups", 4, {"StatesFilter": []})
    r["Groups"] = [g for g in r["Groups"] if g["GroupId"].startswith("m-")]
    return r


@case("delete_groups", [(GROUP, "group", DELETE)], setup=["topic", "group"])
def _delete_groups(c, ctx):
    return c.call("DeleteGroups", 2, {"GroupsNames": [ctx.group]})


@case("offset_delete", [(GROUP, "group", DELETE), (TOPIC, "topic", READ)], setup=["topic", "group"])
def _offset_delete(c, ctx):
    return c.call("OffsetDelete", 0, {"GroupId": ctx.group, "Topics": [
        {"Name": ctx.topic, "Partitions": [{"PartitionIndex": 0}]}]})


@case("consumer_group_heartbeat", [(GROUP, "group", READ)], setup=["topic"])
def _cg_heartbeat(c, ctx):
    r = c.call("ConsumerGroupHeartbeat", 0, {"GroupId": ctx.group, "MemberId": str(uuid.uuid4()), "MemberEpoch": 0,
                                             "RebalanceTimeoutMs": 10000, "SubscribedTopicNames": [ctx.topic],
                                             "TopicPartitions": []})
    return {"ErrorCode": r["ErrorCode"]}


@case("consumer_group_heartbeat_topic", [(GROUP, "group", READ), (TOPIC, "topic", DESCRIBE)], setup=["topic"])
def _cg_heartbeat_topic(c, ctx):
    return _cg_heartbeat(c, ctx)


def by_regex(ctx):
    """A pattern matching the case's topic and its "-hidden" one, which no ACL names."""
    return f"{ctx.topic}.*"


@case("consumer_group_heartbeat_regex", [(GROUP, "group", READ), (TOPIC, "topic", DESCRIBE)],
      setup=["topic", "hidden"])
def _cg_heartbeat_regex(c, ctx):
    """A member subscribing by regex is assigned only the topics it may describe (Kafka
    resolves the regex on its own, so the assignment comes at a later heartbeat)."""
    member = str(uuid.uuid4())
    r = c.call("ConsumerGroupHeartbeat", 1, {"GroupId": ctx.group, "MemberId": member, "MemberEpoch": 0,
                                             "RebalanceTimeoutMs": 10000, "SubscribedTopicRegex": by_regex(ctx),
                                             "TopicPartitions": []})
    state = {"r": r}

    def assigned():
        last = state["r"]
        if last["ErrorCode"] != 0 or (last["Assignment"] and last["Assignment"]["TopicPartitions"]):
            return True
        state["r"] = c.call("ConsumerGroupHeartbeat", 1, {"GroupId": ctx.group, "MemberId": member,
                                                          "MemberEpoch": last["MemberEpoch"], "TopicPartitions": []})
        return False
    until(lambda: f"an assignment for {ctx.group} (last answer {state['r']})", assigned)
    r = state["r"]
    names = {t["TopicId"]: t["Name"] for t in c.call("Metadata", 12, {"Topics": None})["Topics"]}
    got = [{"Name": names.get(tp["TopicId"], "(a topic it may not describe)"), "Partitions": tp["Partitions"]}
           for tp in (r["Assignment"] or {"TopicPartitions": []})["TopicPartitions"]]
    return {"ErrorCode": r["ErrorCode"], "Assignment": got}


@case("metadata_all_regex", [(TOPIC, "topic", DESCRIBE)], setup=["topic", "hidden"])
def _metadata_all_regex(c, ctx):
    """What a classic-protocol client subscribing by pattern matches it against: every topic
    it may describe, so not the hidden one."""
    r = c.call("Metadata", 12, {"Topics": None})
    r["Topics"] = [t for t in r["Topics"] if re.fullmatch(by_regex(ctx), t["Name"])]
    return r


@case("consumer_group_describe", [(GROUP, "group", DESCRIBE)], setup=["topic", "group"])
def _cg_describe(c, ctx):
    return c.call("ConsumerGroupDescribe", 0, {"GroupIds": [ctx.group], "IncludeAuthorizedOperations": True})


@case("init_producer_id_idempotent", [(TOPIC, "topic", WRITE)], setup=["topic"])
def _init_pid(c, ctx):
    r = c.call("InitProducerId", 4, {"TransactionalId": None, "TransactionTimeoutMs": 60000})
    return {"ErrorCode": r["ErrorCode"]}


@case("init_producer_id_cluster", [(CLUSTER, "cluster", IDEMPOTENT_WRITE)])
def _init_pid_cluster(c, ctx):
    return _init_pid(c, ctx)


@case("init_producer_id_transactional", [(TXN, "txn", WRITE)], retry=False)
def _init_pid_txn(c, ctx):
    r = c.call("InitProducerId", 4, {"TransactionalId": ctx.txn, "TransactionTimeoutMs": 60000})
    return {"ErrorCode": r["ErrorCode"]}


@case("describe_log_dirs", [(CLUSTER, "cluster", DESCRIBE)], setup=["topic"])
def _describe_log_dirs(c, ctx):
    r = c.call("DescribeLogDirs", 4, {"Topics": [{"Topic": ctx.topic, "Partitions": [0]}]})
    # the folders differ; whether any is listed, and with which topics, is compared
    return {"ErrorCode": r["ErrorCode"],
            "Topics": sorted(t["Name"] for d in r["Results"] for t in d["Topics"])}


@case("alter_partition_reassignments", [(CLUSTER, "cluster", ALTER)], setup=["topic"])
def _alter_reassignments(c, ctx):
    # cancelling what is not in progress: NO_REASSIGNMENT_IN_PROGRESS once authorized
    return c.call("AlterPartitionReassignments", 0, {"TimeoutMs": 10000, "Topics": [
        {"Name": ctx.topic, "Partitions": [{"PartitionIndex": 0, "Replicas": None}]}]})


@case("list_partition_reassignments", [(CLUSTER, "cluster", DESCRIBE)], setup=["topic"])
def _list_reassignments(c, ctx):
    return c.call("ListPartitionReassignments", 0, {"TimeoutMs": 10000, "Topics": [
        {"Name": ctx.topic, "PartitionIndexes": [0]}]})


@case("elect_leaders", [(CLUSTER, "cluster", ALTER)], setup=["topic"])
def _elect_leaders(c, ctx):
    return c.call("ElectLeaders", 2, {"ElectionType": 0, "TopicPartitions": [
        {"Topic": ctx.topic, "Partitions": [0]}], "TimeoutMs": 10000})


@case("describe_acls", [(CLUSTER, "cluster", DESCRIBE)])
def _describe_acls(c, ctx):
    r = c.call("DescribeAcls", 3, {"ResourceTypeFilter": TOPIC, "ResourceNameFilter": ctx.topic,
                                   "PatternTypeFilter": LITERAL, "PrincipalFilter": None, "HostFilter": None,
                                   "Operation": 1, "PermissionType": 1})
    return r


@case("create_acls", [(CLUSTER, "cluster", ALTER)])
def _create_acls(c, ctx):
    return c.call("CreateAcls", 3, {"Creations": [
        {"ResourceType": TOPIC, "ResourceName": ctx.topic, "ResourcePatternType": LITERAL,
         "Principal": "User:nobody", "Host": "*", "Operation": READ, "PermissionType": ALLOW}]})


@case("delete_acls", [(CLUSTER, "cluster", ALTER)])
def _delete_acls(c, ctx):
    # the binding create_acls made (allowed phase): DeleteAcls lists what it removed
    return c.call("DeleteAcls", 3, {"Filters": [
        {"ResourceTypeFilter": TOPIC, "ResourceNameFilter": "m-create_acls", "PatternTypeFilter": LITERAL,
         "PrincipalFilter": "User:nobody", "HostFilter": None, "Operation": 1, "PermissionType": 1}]})


@case("describe_cluster", [(CLUSTER, "cluster", DESCRIBE)])
def _describe_cluster(c, ctx):
    r = c.call("DescribeCluster", 1, {"IncludeClusterAuthorizedOperations": True})
    return {"ErrorCode": r["ErrorCode"], "ClusterAuthorizedOperations": r["ClusterAuthorizedOperations"]}


@case("describe_cluster_operations", [(CLUSTER, "cluster", DESCRIBE), (CLUSTER, "cluster", ALTER),
                                      (CLUSTER, "cluster", IDEMPOTENT_WRITE), (CLUSTER, "cluster", ALTER_CONFIGS)])
def _describe_cluster_operations(c, ctx):
    return _describe_cluster(c, ctx)


@case("describe_user_scram_credentials", [(CLUSTER, "cluster", DESCRIBE)])
def _describe_scram(c, ctx):
    return c.call("DescribeUserScramCredentials", 0, {"Users": [{"Name": ctx.case}]})


@case("alter_user_scram_credentials", [(CLUSTER, "cluster", ALTER)])
def _alter_scram(c, ctx):
    return c.call("AlterUserScramCredentials", 0, {"Deletions": [], "Upsertions": [
        {"Name": f"scram-{ctx.case}", "Mechanism": 1, "Iterations": 8192, "Salt": b"salt" * 4,
         "SaltedPassword": b"p" * 32}]})


@case("describe_client_quotas", [(CLUSTER, "cluster", DESCRIBE_CONFIGS)])
def _describe_client_quotas(c, ctx):
    r = c.call("DescribeClientQuotas", 1, {"Components": [], "Strict": False})
    return {"ErrorCode": r["ErrorCode"]}


# Deliberate differences: (case, phase) -> reason. Each is in docs/differences-from-kafka.md.
EXPECTED_DIFFERENCES = {
    ("find_coordinator_transaction", "allowed"):
        "transactions are not served: COORDINATOR_NOT_AVAILABLE past the authorizer",
    ("init_producer_id_transactional", "allowed"):
        "transactions are not served: INVALID_REQUEST past the authorizer",
    ("produce_transactional_batch", "allowed"):
        "transactions are not served: a transactional batch is INVALID_RECORD past the authorizer "
        "(Kafka: INVALID_PRODUCER_ID_MAPPING, the producer id being unknown)",
}


# ---- servers ---------------------------------------------------------------------------------

USERS = {"admin": "admin-secret", **{c.name: f"{c.name}-secret" for c in CASES}}
JAAS = ("org.apache.kafka.common.security.plain.PlainLoginModule required " +
        " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")


# both servers: clients on SASL_PLAINTEXT (PLAIN), brokers on PLAINTEXT, the standard authorizer
SECURED = {
    "inter.broker.listener.name": "PLAINTEXT",
    "sasl.enabled.mechanisms": "PLAIN",
    "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
    "authorizer.class.name": STANDARD_AUTHORIZER,
}


class Side:
    def __init__(self, name, sasl_port, node_id):
        self.name = name
        self.sasl_port = sasl_port
        self.node_id = node_id

    def connect(self, user):
        return Connection(self.sasl_port, sasl=(user, USERS[user]), client_id=f"acl-matrix-{user}")


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    port, sasl_port = free_port(), free_port()
    k = ApacheKafka(tmp_path_factory.mktemp("apache-kafka"), port=port)
    k.overrides.update({
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port},"
                     f"CONTROLLER://127.0.0.1:{k.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        **SECURED,
        # the broker's own connections (and the harness's readiness check) come as ANONYMOUS
        "super.users": "User:admin;User:ANONYMOUS",
        "group.initial.rebalance.delay.ms": "0",
    })
    try:
        k.start()
        yield Side("kafka", sasl_port, k.node_id)
    finally:
        rc = k.stop()
        print(f"\n===== Apache Kafka server.log (exit {rc}) =====\n{k.server_log_tail(8000)}")


@pytest.fixture(scope="module")
def tributary(tmp_path_factory):
    coord, b, sasl_port = start_sasl_broker(tmp_path_factory.mktemp("tributary"),
                                            {**SECURED, "super.users": "User:admin"})
    try:
        yield Side("tributary", sasl_port, b.node_id)
    finally:
        rc = b.stop()
        coord.stop()
        print(f"\n===== tributary log {b.log_path} (exit {rc}) =====\n{b.log_tail(8000)}")


# ---- the phases ------------------------------------------------------------------------------

def until(what, fn, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what() if callable(what) else what}: not within {timeout} s")
        time.sleep(0.1)


def error_codes(value):
    if isinstance(value, dict):
        return {c for k, v in value.items() for c in (error_codes(v) if isinstance(v, (dict, list))
                                                     else ([v] if "ErrorCode" in k else []))}
    if isinstance(value, list):
        return {c for x in value for c in error_codes(x)}
    return set()


def set_up(side):
    """As admin: the cases' topics (one partition each, with a leader) and groups (a committed
    offset makes an empty group)."""
    with side.connect("admin") as c:
        topics = [f"m-{k.name}" for k in CASES if "topic" in k.setup]
        topics += [f"m-{k.name}-hidden" for k in CASES if "hidden" in k.setup]
        r = c.call("CreateTopics", 7, {"Topics": [{"Name": t, "NumPartitions": 1, "ReplicationFactor": 1}
                                                  for t in topics], "timeoutMs": 30000})
        assert all(t["ErrorCode"] == 0 for t in r["Topics"]), r

        def led():
            m = c.call("Metadata", 12, {"Topics": [{"Name": t} for t in topics], "AllowAutoTopicCreation": False})
            return all(t["ErrorCode"] == 0 and t["Partitions"] and t["Partitions"][0]["LeaderId"] >= 0
                       for t in m["Topics"])
        until(f"{side.name}: the cases' topics have leaders", led)
        # FindCoordinator makes Kafka create __consumer_offsets (and __transaction_state;
        # Tributary serves no transactions: docs/differences-from-kafka.md)
        for key_type in (0, 1) if side.name == "kafka" else (0,):
            until(f"{side.name}: a coordinator of key type {key_type}", lambda: c.call(
                "FindCoordinator", 4, {"KeyType": key_type, "CoordinatorKeys": ["m"]})["Coordinators"][0]["ErrorCode"] == 0,
                timeout=60)
        for k in CASES:
            if "group" in k.setup:
                ctx = Ctx(k.name, side.node_id)
                def committed():
                    r = c.call("OffsetCommit", 8, {
                        "GroupId": ctx.group, "GenerationIdOrMemberEpoch": -1, "MemberId": "",
                        "Topics": [{"Name": ctx.topic, "Partitions": [
                            {"PartitionIndex": 0, "CommittedOffset": 0, "CommittedMetadata": ""}]}]})
                    last[:] = [r]
                    return error_codes(r) == {0}
                last = []
                until(lambda: f"{side.name}: group {ctx.group} committed (last answer {last})", committed)


def bindings():
    out = []
    for k in CASES:
        ctx = Ctx(k.name, 0)
        for rtype, which, op in k.acls:
            name = "kafka-cluster" if which == "cluster" else getattr(ctx, which)
            out.append({"ResourceType": rtype, "ResourceName": name, "ResourcePatternType": LITERAL,
                        "Principal": k.principal, "Host": "*", "Operation": op, "PermissionType": ALLOW})
    return out


def grant_all(side):
    want = bindings()
    with side.connect("admin") as c:
        r = c.call("CreateAcls", 3, {"Creations": want})
        assert all(x["ErrorCode"] == 0 for x in r["Results"]), r

        def visible():
            d = c.call("DescribeAcls", 3, {"ResourceTypeFilter": 1, "ResourceNameFilter": None,
                                           "PatternTypeFilter": 1, "PrincipalFilter": None, "HostFilter": None,
                                           "Operation": 1, "PermissionType": 1})
            n = sum(1 for res in d["Resources"] for a in res["Acls"] if a["Principal"].startswith("User:")
                    and a["Principal"] != "User:nobody")
            return n >= len(want)
        until(f"{side.name}: the ACLs in force", visible)


def run_case(side, k):
    ctx = Ctx(k.name, side.node_id)
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            with side.connect(k.name) as c:
                got = norm(k.request(c, ctx))
        except (EOFError, ConnectionError, OSError) as e:
            return f"connection closed ({type(e).__name__})"
        if not k.retry or not (error_codes(got) & RETRIABLE) or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


@pytest.fixture(scope="module")
def matrix(kafka, tributary):
    sides = (kafka, tributary)
    results = {k.name: {"denied": {}, "allowed": {}} for k in CASES}
    for s in sides:
        set_up(s)
    for k in CASES:
        for s in sides:
            results[k.name]["denied"][s.name] = run_case(s, k)
    for s in sides:
        grant_all(s)
    for k in CASES:
        for s in sides:
            results[k.name]["allowed"][s.name] = run_case(s, k)
    return results


@pytest.mark.parametrize("name", [k.name for k in CASES])
def test_acl_matrix(matrix, name):
    r = matrix[name]
    problems = []
    for phase in ("denied", "allowed"):
        kafka, ours = r[phase]["kafka"], r[phase]["tributary"]
        reason = EXPECTED_DIFFERENCES.get((name, phase))
        if reason is None and kafka != ours:
            problems.append(f"{phase}: Kafka {kafka!r}\n    Tributary {ours!r}")
        if reason is not None and kafka == ours:
            problems.append(f"{phase}: listed as a difference ({reason}) but both answer {kafka!r}")
    # the case tests the authorizer: Kafka's answer changes with the ACL
    if r["denied"]["kafka"] == r["allowed"]["kafka"]:
        problems.append(f"Kafka answers the same denied and allowed: {r['denied']['kafka']!r}")
    assert not problems, "\n  ".join([name] + problems)


def test_every_difference_is_a_case():
    names = {k.name for k in CASES}
    assert {n for n, _ in EXPECTED_DIFFERENCES} <= names
