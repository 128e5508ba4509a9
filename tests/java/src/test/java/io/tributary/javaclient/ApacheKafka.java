package io.tributary.javaclient;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Apache Kafka 4.4 itself, one KRaft node (broker and controller combined) on free loopback
 * ports, started from the jars that scripts/install-deps.sh resolves, through tools/kafka, with
 * the properties tests/integration/apache_kafka.py writes: the reference the error cases are
 * compared with.
 */
final class ApacheKafka extends ServerProcess {
    static final Duration START_TIMEOUT = Duration.ofSeconds(120); // a JVM on a loaded 2-core machine
    static final Duration TOOL_TIMEOUT = Duration.ofSeconds(120);

    private final int controllerPort = freePort();

    private ApacheKafka(Path root) {
        super(root, root.resolve("kafka.out"));
    }

    static ApacheKafka start(Path root, Map<String, String> overrides) throws IOException, InterruptedException {
        ApacheKafka kafka = new ApacheKafka(root);
        Files.createDirectories(root);
        Path config = root.resolve("server.properties");
        Map<String, String> props = kafka.properties();
        props.putAll(overrides);
        Files.writeString(config, props.entrySet().stream()
                .map(e -> e.getKey() + "=" + e.getValue() + "\n").collect(Collectors.joining()));
        String clusterId = kafka.tool("kafka-storage", "random-uuid").strip();
        kafka.tool("kafka-storage", "format", "-t", clusterId, "-c", config.toString(), "--standalone");
        kafka.spawnAndWait(List.of(launcher().toString(), "kafka-server-start", config.toString()),
                Map.of("KAFKA_HEAP_OPTS", "-Xmx512M", "KAFKA_LOG_DIR", root.toString()), START_TIMEOUT);
        return kafka;
    }

    private Map<String, String> properties() {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("process.roles", "broker,controller");
        p.put("node.id", Integer.toString(nodeId()));
        p.put("controller.quorum.bootstrap.servers", "127.0.0.1:" + controllerPort);
        p.put("listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + port);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("listener.security.protocol.map", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT");
        p.put("log.dirs", root.resolve("data").toString());
        // one node: the internal topics can't have Kafka's default of three replicas
        p.put("offsets.topic.replication.factor", "1");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        return p;
    }

    static Path launcher() {
        return Settings.sourceDir().resolve("tools/kafka");
    }

    /** Runs one of Kafka's tools (tools/kafka NAME ARGS...) and returns its standard output. */
    private String tool(String... args) throws IOException, InterruptedException {
        List<String> command = new java.util.ArrayList<>(List.of(launcher().toString()));
        command.addAll(List.of(args));
        Path out = Files.createTempFile(root, "tool-", ".out");
        Path err = Files.createTempFile(root, "tool-", ".err");
        Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(TOOL_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(String.join(" ", command) + " did not finish in " + TOOL_TIMEOUT);
        }
        String text = Files.readString(out, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " exited " + p.exitValue() + ":\n"
                    + text + Files.readString(err, StandardCharsets.UTF_8));
        }
        return text;
    }

    /** Kafka's own log (server.log) after the launcher's output. */
    @Override
    String readLog() {
        String server;
        try {
            server = Files.readString(root.resolve("server.log"), StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            server = "";
        }
        return super.readLog() + server;
    }

    @Override
    public String name() {
        return "apache-kafka";
    }
}
