package io.tributary.javaclient;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One tributary-broker process, as tests/integration/harness.py's Broker starts it: node 1 on a
 * free loopback port, data in a folder of its own, no controller.quorum.voters (so it runs its
 * coordinator in-process). The binary: $TRIB_BROKER, else build/broker/tributary-broker.
 */
final class TributaryBroker extends ServerProcess {
    static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    private TributaryBroker(Path root) {
        super(root, root.resolve("broker.log"));
    }

    static TributaryBroker start(Path root, Map<String, String> overrides)
            throws IOException, InterruptedException {
        TributaryBroker broker = new TributaryBroker(root);
        List<String> command = new ArrayList<>(List.of(binary(),
                "--override", "node.id=" + broker.nodeId(),
                "--override", "listeners=PLAINTEXT://127.0.0.1:" + broker.port,
                "--override", "advertised.listeners=PLAINTEXT://127.0.0.1:" + broker.port,
                "--override", "log.dirs=" + root.resolve("data")));
        overrides.forEach((k, v) -> command.addAll(List.of("--override", k + "=" + v)));
        broker.spawnAndWait(command, Map.of(), START_TIMEOUT);
        return broker;
    }

    static String binary() {
        String path = System.getenv("TRIB_BROKER");
        if (path == null || path.isEmpty()) {
            path = Settings.sourceDir().resolve("build/broker/tributary-broker").toString();
        }
        if (!Files.isExecutable(Path.of(path))) {
            throw new IllegalStateException("broker binary " + path
                    + " not found: build tributary-broker or set TRIB_BROKER");
        }
        return path;
    }

    @Override
    public String name() {
        return "tributary";
    }
}
