package io.tributary.javaclient;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Apache Kafka 4.4 itself, one KRaft node (broker and controller combined) on a free loopback
 * port: the reference the error cases are compared with. tests/integration/apache_kafka.py
 * starts it (its command line formats the storage, writes the properties and runs
 * tools/kafka kafka-server-start), and stops it when it gets SIGTERM.
 */
final class ApacheKafka extends ServerProcess {
    static final Duration START_TIMEOUT = Duration.ofSeconds(120); // a JVM on a loaded 2-core machine

    private ApacheKafka(Path root) {
        super(root, root.resolve("launcher.out"));
    }

    static ApacheKafka start(Path root, Map<String, String> overrides) throws IOException, InterruptedException {
        ApacheKafka kafka = new ApacheKafka(root);
        List<String> command = new ArrayList<>(List.of("/usr/bin/python3",
                Settings.sourceDir().resolve("tests/integration/apache_kafka.py").toString(),
                "--heap=-Xmx512M", root.toString(), Integer.toString(kafka.port)));
        overrides.forEach((k, v) -> command.add(k + "=" + v));
        kafka.spawnAndWait(command, Map.of(), START_TIMEOUT);
        return kafka;
    }

    /** The launcher's output, then the JVM's (kafka.out) and Kafka's own log (server.log). */
    @Override
    String readLog() {
        StringBuilder text = new StringBuilder(super.readLog());
        for (String name : List.of("kafka.out", "server.log")) {
            try {
                text.append(Files.readString(root.resolve(name), StandardCharsets.ISO_8859_1));
            } catch (IOException e) {
                // not written yet
            }
        }
        return text.toString();
    }

    @Override
    public String name() {
        return "apache-kafka";
    }
}
