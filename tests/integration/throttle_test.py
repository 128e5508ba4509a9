"""Replication throttles (broker/replication/quota.h), set with Kafka's own kafka-configs as
kafka-reassign-partitions --throttle sets them: a follower that was down catches up no faster
than the leader's or its own throttled rate, catches up at once when the throttle is removed
midway, and a follower in the ISR is never held back (acks=all keeps working with a tiny rate).

A coordinator and three brokers; replica.fetch.max.bytes is 32 KiB and producer batches
16 KiB, so that one fetch adds little to what the throttle lets through.

Timing: Kafka's rate is measured over replication.quota.window.num (11) one-second windows,
counted as at least ten seconds, so about ten seconds' worth of the rate goes through at once
before the throttle holds anything back, and again as old windows age out. A catch-up of B
bytes at rate R therefore takes about B/R - 10 s; the tests check it takes at least
0.7 * (B/R - 11) s, a lower bound slowness can only help meet (unthrottled, it takes a second
or two)."""
import os
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from apache_kafka import kafka_tool
from cluster_test import bootstrap, isr_of, wait_until
from harness import Coordinator
from replication_metrics_test import scrape
from replication_test import batches, records

RECORD = 4000
WINDOW_S = 11  # replication.quota.window.num * replication.quota.window.size.seconds


@pytest.fixture
def throttle_cluster(request, tmp_path, make_broker):
    coord = Coordinator(tmp_path / "coordinator",
                        overrides={"broker.session.timeout.ms": 2000, "broker.heartbeat.interval.ms": 500})
    coord.start()
    brokers = []
    try:
        for i in (1, 2, 3):
            brokers.append(make_broker(f"broker-{i}", node_id=i, overrides={
                "controller.quorum.voters": coord.voters, "tributary.http.listener": "127.0.0.1:0",
                "replica.fetch.max.bytes": 32768}))
        yield brokers
    finally:
        for b in brokers:
            b.stop()
        rc = coord.stop()
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            print(f"\n===== coordinator log (exit {rc}) =====\n{coord.log_tail()}")


def configs(brokers, *args):
    """kafka-configs; a broker's own configs go through that broker, so it must be up."""
    out = kafka_tool("kafka-configs", "--bootstrap-server", bootstrap(brokers), *args).stdout
    assert "Completed updating config" in out, out


def set_broker(brokers, node, **rates):
    """leader_rate=..., follower_rate=...: the throttled rates of broker `node`."""
    names = {"leader_rate": "leader.replication.throttled.rate",
             "follower_rate": "follower.replication.throttled.rate"}
    configs(brokers, "--entity-type", "brokers", "--entity-name", node, "--alter", "--add-config",
            ",".join(f"{names[k]}={v}" for k, v in rates.items()))


def set_topic(brokers, topic, leader=None, follower=None):
    """The throttled replica lists of `topic`, as kafka-reassign-partitions writes them."""
    items = []
    if leader is not None:
        items.append(f"leader.replication.throttled.replicas=[{leader}]")
    if follower is not None:
        items.append(f"follower.replication.throttled.replicas=[{follower}]")
    configs(brokers, "--entity-type", "topics", "--entity-name", topic, "--alter", "--add-config", ",".join(items))


def create(brokers, topic, replicas, min_isr):
    a = AdminClient({"bootstrap.servers": bootstrap(brokers)})
    t = NewTopic(topic, 1, replica_assignment=[replicas], config={"min.insync.replicas": str(min_isr)})
    a.create_topics([t])[topic].result(30)
    wait_until(lambda: sorted(isr_of(brokers, topic).get(0, [])) == sorted(replicas), what=f"{topic} fully in sync")


def produce(brokers, topic, count, acks):
    """`count` random records of RECORD bytes; every one acknowledged."""
    failed = []
    p = Producer({"bootstrap.servers": bootstrap(brokers), "acks": acks, "batch.size": 16384, "linger.ms": 5})
    for _ in range(count):
        p.produce(topic, os.urandom(RECORD), on_delivery=lambda err, _msg: err and failed.append(err))
    assert p.flush(120) == 0
    assert not failed, failed[:3]


def stop_follower_and_produce(brokers, topic, leader, follower, count):
    follower.stop()
    wait_until(lambda: isr_of([leader], topic)[0] == [leader.node_id], what=f"broker {follower.node_id} out of the ISR")
    produce([leader], topic, count, acks=1)


def caught_up(brokers, topic, leader, follower, count):
    """The follower is back in the ISR and holds the leader's batches, all `count` records."""
    if follower.node_id not in isr_of(brokers, topic)[0]:
        return False
    mine, theirs = batches(follower, topic, 0), batches(leader, topic, 0)
    return mine == theirs and records(mine) == count


def assert_slow_catch_up(brokers, topic, leader, follower, count, rate):
    started = time.monotonic()
    follower.start()
    payload = count * RECORD
    lower = 0.7 * (payload / rate - WINDOW_S)
    wait_until(lambda: caught_up(brokers, topic, leader, follower, count), timeout=lower + 120,
               what=f"broker {follower.node_id} to catch up")
    took = time.monotonic() - started
    print(f"{payload} bytes at {rate} bytes/s: caught up in {took:.1f} s (lower bound {lower:.1f} s)")
    assert took >= lower, f"caught up in {took:.1f} s: faster than the throttle allows ({lower:.1f} s)"
    return took


def test_leader_throttle_bounds_a_catch_up(throttle_cluster):
    brokers = throttle_cluster
    leader, follower = brokers[0], brokers[1]
    create(brokers, "led", [1, 2], 1)
    count, rate = 1500, 150_000  # 6 MB at 150 kB/s: 40 s, at least 20 s here
    set_broker(brokers, 1, leader_rate=rate)
    set_topic(brokers, "led", leader="0:1,0:2")
    stop_follower_and_produce(brokers, "led", leader, follower, count)
    out = kafka_tool("kafka-configs", "--bootstrap-server", bootstrap(brokers), "--entity-type", "topics",
                     "--entity-name", "led", "--describe").stdout
    assert "leader.replication.throttled.replicas=0:1,0:2" in out, out
    assert_slow_catch_up(brokers, "led", leader, follower, count, rate)
    m = scrape(leader)
    assert m['tributary_replication_throttled_rate_bytes{side="leader"}'] == rate
    assert m['tributary_replication_throttled_bytes_total{side="leader"}'] >= count * RECORD
    assert m["kafka_server_leaderreplication_byte_rate"] > 0  # within the 11 s window of the last bytes
    assert scrape(follower)['tributary_replication_throttled_bytes_total{side="follower"}'] == 0


def test_follower_throttle_bounds_a_catch_up(throttle_cluster):
    brokers = throttle_cluster
    leader, follower = brokers[0], brokers[1]
    create(brokers, "followed", [1, 2], 1)
    count, rate = 1500, 150_000
    # Only the follower's side: broker 2's rate, and the follower list naming its replica.
    set_broker(brokers, 2, follower_rate=rate)
    set_topic(brokers, "followed", follower="0:2")
    stop_follower_and_produce(brokers, "followed", leader, follower, count)
    assert_slow_catch_up(brokers, "followed", leader, follower, count, rate)
    m = scrape(follower)
    assert m['tributary_replication_throttled_rate_bytes{side="follower"}'] == rate
    assert m['tributary_replication_throttled_bytes_total{side="follower"}'] >= count * RECORD
    assert scrape(leader)['tributary_replication_throttled_bytes_total{side="leader"}'] == 0


def test_removing_the_throttle_midway_lets_the_follower_catch_up(throttle_cluster):
    brokers = throttle_cluster
    leader, follower = brokers[0], brokers[1]
    create(brokers, "released", [1, 2], 1)
    count, rate = 1500, 50_000  # 6 MB at 50 kB/s: 120 s, at least 76 s throttled
    set_broker(brokers, 1, leader_rate=rate)
    set_broker(brokers, 2, follower_rate=rate)
    set_topic(brokers, "released", leader="0:1,0:2", follower="0:2")
    stop_follower_and_produce(brokers, "released", leader, follower, count)
    started = time.monotonic()
    follower.start()
    wait_until(lambda: records(batches(follower, "released", 0)) > 0, what="the follower copying")
    assert not caught_up(brokers, "released", leader, follower, count)
    # As kafka-reassign-partitions --verify does once a move is done.
    for node in (1, 2):
        configs(brokers, "--entity-type", "brokers", "--entity-name", node, "--alter", "--delete-config",
                "leader.replication.throttled.rate,follower.replication.throttled.rate")
    configs(brokers, "--entity-type", "topics", "--entity-name", "released", "--alter", "--delete-config",
            "leader.replication.throttled.replicas,follower.replication.throttled.replicas")
    # Throttled all along it would take at least 0.7 * (120 - 11) = 76 s.
    bound = 0.7 * (count * RECORD / rate - WINDOW_S)
    wait_until(lambda: caught_up(brokers, "released", leader, follower, count),
               timeout=max(1.0, bound - (time.monotonic() - started)),
               what="the follower to catch up once unthrottled, sooner than the throttle allows")
    assert scrape(leader)['tributary_replication_throttled_rate_bytes{side="leader"}'] == -1


def test_followers_in_the_isr_are_never_throttled(throttle_cluster):
    """Every replica in sync, one byte a second on both sides of every broker, every replica
    throttled: acks=all with min.insync.replicas=3 goes on (a follower held back would leave
    the ISR and the produce fail NOT_ENOUGH_REPLICAS), though the bytes are counted."""
    brokers = throttle_cluster
    create(brokers, "in-sync", [1, 2, 3], 3)
    for node in (1, 2, 3):
        set_broker(brokers, node, leader_rate=1, follower_rate=1)
    set_topic(brokers, "in-sync", leader="*", follower="*")
    wait_until(lambda: scrape(brokers[0])['tributary_replication_throttled_rate_bytes{side="leader"}'] == 1,
               what="the rate in force on broker 1")
    produce(brokers, "in-sync", 500, acks="all")
    assert sorted(isr_of(brokers, "in-sync")[0]) == [1, 2, 3]
    m = scrape(brokers[0])
    assert m['tributary_replication_throttled_bytes_total{side="leader"}'] >= 2 * 500 * RECORD
    # The measured rate, refreshed every second, is far above the bound all the while.
    wait_until(lambda: scrape(brokers[0])["kafka_server_leaderreplication_byte_rate"] > 1000,
               what="the measured rate on /metrics")
    wait_until(lambda: all(records(batches(b, "in-sync", 0)) == 500 for b in brokers), what="every copy complete")
