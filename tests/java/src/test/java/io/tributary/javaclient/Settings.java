package io.tributary.javaclient;

import java.nio.file.Path;

/** Where things are: system properties set by the pom's Surefire configuration. */
final class Settings {
    private Settings() {
    }

    /** The repository root (tools/kafka, build/). */
    static Path sourceDir() {
        return Path.of(System.getProperty("trib.source.dir", "../..")).toAbsolutePath().normalize();
    }

    /** Where the servers the tests start keep their data and logs. */
    static Path workDir() {
        return Path.of(System.getProperty("trib.work.dir", "target/brokers")).toAbsolutePath().normalize();
    }
}
