package io.tributary.javaclient;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What TributaryBroker and ApacheKafka share: a child process whose output goes to a log file,
 * ready when a Metadata request on its port lists its node, stopped with SIGTERM (SIGKILL after
 * a bound). Every wait is bounded in time.
 */
abstract class ServerProcess implements Target, AutoCloseable {
    static final Duration STOP_TIMEOUT = Duration.ofSeconds(20);
    static final int LOG_TAIL_CHARS = 20_000;

    final Path root;
    final Path logPath;
    final int port;
    private Process process;
    private long logPrinted;

    ServerProcess(Path root, Path logPath) {
        this.root = root;
        this.logPath = logPath;
        this.port = freePort();
    }

    @Override
    public String bootstrap() {
        return "127.0.0.1:" + port;
    }

    @Override
    public int nodeId() {
        return 1;
    }

    /**
     * A loopback port nobody listens on right now, chosen at random under the kernel's ephemeral
     * range. A port from bind(0) is one the kernel may hand out again a moment later to any socket
     * (a client connection, the coordinator a broker embeds), and a server told to listen on it
     * then fails to start; ports under the range are only taken by someone asking for them.
     */
    static int freePort() {
        int first = 32768;
        // readLine, not Files.readString: /proc reports a size of 0 and readString stops short.
        try (var in = java.nio.file.Files.newBufferedReader(
                java.nio.file.Path.of("/proc/sys/net/ipv4/ip_local_port_range"))) {
            first = Integer.parseInt(in.readLine().trim().split("\\s+")[0]);
        } catch (IOException | RuntimeException e) {
            // keep Linux's default
        }
        first = Math.max(first, 2048);
        int low = Math.max(1024, first - 12000);
        var random = java.util.concurrent.ThreadLocalRandom.current();
        for (int i = 0; i < 200; i++) {
            int port = random.nextInt(low, first);
            try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
                return port;
            } catch (IOException e) {
                // taken: try another
            }
        }
        throw new IllegalStateException("no free loopback port in " + low + ".." + (first - 1));
    }

    /** Starts `command` with output appended to the log, then waits until it serves. */
    void spawnAndWait(List<String> command, java.util.Map<String, String> env, Duration timeout)
            throws IOException, InterruptedException {
        Files.createDirectories(root);
        Files.writeString(logPath, "==== " + String.join(" ", command) + "\n",
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        ProcessBuilder pb = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logPath.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().keySet().removeIf(k -> k.startsWith("KAFKA_"));
        pb.environment().putAll(env);
        process = pb.start();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException(name() + " exited with " + process.exitValue()
                        + " before it served; log:\n" + logTail());
            }
            if (listsItself()) {
                return;
            }
            Thread.sleep(100);
        }
        kill();
        throw new IllegalStateException(name() + " not ready within " + timeout + "; log:\n" + logTail());
    }

    /** SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT. */
    @Override
    public void close() throws InterruptedException {
        if (process == null || !process.isAlive()) {
            return;
        }
        process.destroy(); // SIGTERM
        if (!process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
            kill();
        }
    }

    void kill() throws InterruptedException {
        if (process != null && process.isAlive()) {
            // Children first: apache_kafka.py's JVM would outlive a killed launcher.
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        }
    }

    Integer exitCode() {
        return process == null || process.isAlive() ? null : process.exitValue();
    }

    String logTail() {
        String text = readLog();
        return text.substring(Math.max(0, text.length() - LOG_TAIL_CHARS));
    }

    /** The new part of the log, less Kafka's tab-indented dumps of its whole configuration. */
    @Override
    public synchronized String newLog() {
        String text = readLog();
        int from = (int) Math.max(logPrinted, text.length() - LOG_TAIL_CHARS);
        logPrinted = text.length();
        return text.substring(Math.min(from, text.length())).replaceAll("(?m)^\t.*\n", "");
    }

    String readLog() {
        try {
            return Files.readString(logPath, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }

    /**
     * Ready: a Metadata v1 request (no topics) on a plain socket answers and lists this node
     * among the brokers, so clients find a broker to talk to.
     */
    boolean listsItself() {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000);
            s.setSoTimeout(5000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] clientId = "trib-java-probe".getBytes(StandardCharsets.UTF_8);
            ByteBuffer req = ByteBuffer.allocate(2 + 2 + 4 + 2 + clientId.length + 4);
            req.putShort((short) 3).putShort((short) 1).putInt(7)        // Metadata v1, correlation 7
                    .putShort((short) clientId.length).put(clientId)
                    .putInt(0);                                           // no topics
            out.writeInt(req.capacity());
            out.write(req.array());
            out.flush();
            int size = in.readInt();
            if (size < 8 || size > (1 << 20)) {
                return false;
            }
            byte[] frame = new byte[size];
            in.readFully(frame);
            ByteBuffer b = ByteBuffer.wrap(frame);
            if (b.getInt() != 7) {
                return false;
            }
            int brokers = b.getInt();
            for (int i = 0; i < brokers && i < 1000; i++) {
                int node = b.getInt();
                short host = b.getShort();
                b.position(b.position() + host);
                b.getInt();                                       // port
                short rack = b.getShort();
                if (rack > 0) {
                    b.position(b.position() + rack);
                }
                if (node == nodeId()) {
                    return true;
                }
            }
            return false;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }
}
