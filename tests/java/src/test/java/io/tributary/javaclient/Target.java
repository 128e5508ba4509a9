package io.tributary.javaclient;

/** A running Kafka-protocol server the tests talk to: Tributary or Apache Kafka. */
public interface Target {
    /** "tributary" or "apache-kafka": what test names and messages show. */
    String name();

    /** host:port for bootstrap.servers. */
    String bootstrap();

    /** The server's node id, as Metadata and DescribeCluster list it. */
    int nodeId();

    /** The part of the server's log written since the last call (bounded to its tail). */
    String newLog();
}
