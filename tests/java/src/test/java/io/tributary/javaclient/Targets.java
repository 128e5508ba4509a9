package io.tributary.javaclient;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * The servers the tests run against, started once for the whole run and stopped (SIGTERM) at
 * its end: one tributary-broker, and Apache Kafka 4.4 for the tests that compare with it.
 * Apache Kafka starts in the background when the first test class begins, since its JVM takes
 * a while. Both run with auto.create.topics.enable=false, so every test creates its topics.
 * A failing test prints what the servers logged since the last failure.
 *
 * Use with {@code @ExtendWith(Targets.class)}, then {@code Targets.tributary()} or
 * {@code Targets.get(name)} with a name from {@link #NAMES}.
 *
 * The system property {@code trib.targets} (comma-separated names; the pom passes Maven's
 * {@code -Dtrib.targets=...}) limits a run to some of them: a test asking for another target
 * is skipped (aborted, so reported as skipped, not passed), and that server is not started.
 */
public final class Targets implements BeforeAllCallback, TestWatcher {
    public static final String TRIBUTARY = "tributary";
    public static final String APACHE_KAFKA = "apache-kafka";
    public static final List<String> NAMES = List.of(TRIBUTARY, APACHE_KAFKA);

    static final Map<String, String> OVERRIDES = Map.of("auto.create.topics.enable", "false",
            // a new group doesn't wait 3 s for more members (ConsumerGroupTest)
            "group.initial.rebalance.delay.ms", "0");
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(Targets.class);
    private static volatile ExtensionContext.Store store;

    /** A server being started or running; closing the run's store stops it. */
    private static final class Started implements AutoCloseable {
        final CompletableFuture<ServerProcess> server;

        Started(String name) {
            server = CompletableFuture.supplyAsync(() -> {
                try {
                    Path work = workDir();
                    Path root = Files.createTempDirectory(work, name + "-");
                    return name.equals(TRIBUTARY) ? TributaryBroker.start(root, OVERRIDES)
                                                  : ApacheKafka.start(root, OVERRIDES);
                } catch (IOException e) {
                    throw new CompletionException(e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new CompletionException(e);
                }
            });
        }

        Optional<ServerProcess> ifStarted() {
            return server.isDone() && !server.isCompletedExceptionally() ? Optional.of(server.join()) : Optional.empty();
        }

        @Override
        public void close() throws Exception {
            ServerProcess s;
            try {
                s = server.get(ApacheKafka.START_TIMEOUT.toSeconds() + 10, TimeUnit.SECONDS);
            } catch (Exception e) {
                return; // never started: nothing to stop
            }
            s.close();
            Integer rc = s.exitCode();
            // 143: a JVM's exit after SIGTERM (128 + 15), Apache Kafka's normal stop
            if (rc == null || (rc != 0 && !(rc == 143 && s instanceof ApacheKafka))) {
                System.err.println("==== " + s.name() + " exited " + rc + " on SIGTERM; log:\n" + s.logTail());
            }
        }
    }

    private static boolean workDirCleared;

    /**
     * The folder for the servers' data and logs; the previous run's is removed on first use
     * (as tests/integration keeps a test's brokers until its next run).
     */
    private static synchronized Path workDir() throws IOException {
        Path work = Settings.workDir();
        if (!workDirCleared && Files.exists(work)) {
            try (var paths = Files.walk(work)) {
                for (Path p : (Iterable<Path>) paths.sorted(java.util.Comparator.reverseOrder())::iterator) {
                    Files.delete(p);
                }
            }
        }
        workDirCleared = true;
        return Files.createDirectories(work);
    }

    /** The targets this run may use: trib.targets if set, else all of {@link #NAMES}. */
    static List<String> selected() {
        String only = System.getProperty("trib.targets", "").trim();
        if (only.isEmpty()) {
            return NAMES;
        }
        List<String> names = new ArrayList<>();
        for (String n : only.split(",")) {
            n = n.trim();
            if (!NAMES.contains(n)) {
                throw new IllegalArgumentException("trib.targets names " + n + "; the targets are " + NAMES);
            }
            names.add(n);
        }
        return names;
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        store = context.getRoot().getStore(NS);
        if (selected().contains(APACHE_KAFKA)) {
            started(APACHE_KAFKA); // begin its start now; tests join it when they need it
        }
    }

    private static Started started(String name) {
        if (store == null) {
            throw new IllegalStateException("the test class needs @ExtendWith(Targets.class)");
        }
        return store.getOrComputeIfAbsent(name, Started::new, Started.class);
    }

    /** The named server, started if it isn't yet; fails the test if it could not start. */
    public static Target get(String name) {
        if (!NAMES.contains(name)) {
            throw new IllegalArgumentException("unknown target " + name);
        }
        Assumptions.assumeTrue(selected().contains(name), () -> name + " is not in trib.targets " + selected());
        try {
            return started(name).server.join();
        } catch (CompletionException e) {
            throw new IllegalStateException(name + " did not start: " + e.getCause(), e.getCause());
        }
    }

    public static Target tributary() {
        return get(TRIBUTARY);
    }

    @Override
    public void testFailed(ExtensionContext context, Throwable cause) {
        for (String name : NAMES) {
            Started s = store == null ? null : store.get(name, Started.class);
            if (s != null) {
                String test = context.getRequiredTestClass().getSimpleName() + "."
                        + context.getRequiredTestMethod().getName() + " " + context.getDisplayName();
                s.ifStarted().ifPresent(server -> System.err.println(
                        "==== " + test + " failed; " + name + " logged (since the last failure):\n" + server.newLog()));
            }
        }
    }
}
