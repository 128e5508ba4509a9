// The ZooKeeper side of bench/coordinator_quorum_bench.py, with the same modes and output as
// tributary-quorum-client (bench/quorum_client.cc). A write is a synchronous setData of
// --size bytes on the client's own znode, done when the server answers: committed by a quorum
// of the ensemble, each server's transaction log fsynced (forceSync, the default). Each
// concurrent client is its own session (its own connection), as in the other two clients.
// Java 17 runs it from source, no build step:
//
//   java -cp /usr/share/java/zookeeper.jar bench/ZkQuorumClient.java latency --servers H:P,... --size 100 --writes 1000
//   ... throughput --servers ... --size 100 --clients 16 --seconds 10
//   ... stream --servers ... --size 100 --seconds 15 --gap-ms 50
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

public class ZkQuorumClient {
    static String servers = "";
    static int size = 100, writes = 1000, warmup = 50, clients = 16;
    static double seconds = 10;
    static long gapMs = 50;

    static void fail(String why) {
        System.err.println("zk-quorum-client: " + why);
        System.exit(1);
    }

    // The value of write n: its number zero-padded to the size, as the Tributary client writes.
    static byte[] value(long n) {
        String s = Long.toString(86400000L + n);
        StringBuilder b = new StringBuilder();
        for (int i = s.length(); i < size; i++) {
            b.append('0');
        }
        return b.append(s).toString().getBytes(StandardCharsets.US_ASCII);
    }

    static ZooKeeper connect() throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(servers, 30000, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                up.countDown();
            }
        });
        if (!up.await(30, TimeUnit.SECONDS)) {
            fail("no ZooKeeper session within 30 s from " + servers);
        }
        return zk;
    }

    static String node(int k) {
        return "/quorum-bench-" + k;
    }

    static void ensure(ZooKeeper zk, String path) throws Exception {
        try {
            zk.create(path, value(0), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        } catch (KeeperException.NodeExistsException e) {
            // made by an earlier run
        }
    }

    static double percentile(List<Double> sorted, double p) {
        if (sorted.isEmpty()) {
            return 0;
        }
        int i = (int) (p * (sorted.size() - 1) + 0.5);
        return sorted.get(Math.min(i, sorted.size() - 1));
    }

    static void latency() throws Exception {
        ZooKeeper zk = connect();
        ensure(zk, node(0));
        List<Double> samples = new ArrayList<>();
        for (int i = 0; i < warmup + writes; i++) {
            long t0 = System.nanoTime();
            zk.setData(node(0), value(i), -1);
            long t1 = System.nanoTime();
            if (i >= warmup) {
                samples.add((t1 - t0) / 1e6);
            }
        }
        Collections.sort(samples);
        double sum = 0;
        for (double s : samples) {
            sum += s;
        }
        System.out.printf("{\"mode\":\"latency\",\"size\":%d,\"writes\":%d,\"mean_ms\":%.3f,\"p50_ms\":%.3f,"
                + "\"p99_ms\":%.3f,\"max_ms\":%.3f}%n", size, samples.size(), sum / samples.size(),
                percentile(samples, 0.5), percentile(samples, 0.99), samples.get(samples.size() - 1));
        zk.close();
    }

    static void throughput() throws Exception {
        List<Double> samples = Collections.synchronizedList(new ArrayList<>());
        long[] counts = new long[2];  // done, errors
        String[] firstError = new String[1];
        // Every client connects and writes once before the clock starts.
        long start = System.nanoTime() + 2_000_000_000L + clients * 20_000_000L;
        long end = start + (long) (seconds * 1e9);
        List<Thread> threads = new ArrayList<>();
        for (int k = 0; k < clients; k++) {
            final int client = k;
            Thread t = new Thread(() -> {
                try {
                    ZooKeeper zk = connect();
                    ensure(zk, node(client));
                    long wait = start - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                    for (long n = 1; System.nanoTime() < end; n++) {
                        long t0 = System.nanoTime();
                        String err = null;
                        try {
                            zk.setData(node(client), value(n), -1);
                        } catch (KeeperException e) {
                            err = e.toString();
                        }
                        long t1 = System.nanoTime();
                        if (t1 > end) {
                            break;
                        }
                        synchronized (counts) {
                            if (err == null) {
                                counts[0]++;
                                samples.add((t1 - t0) / 1e6);
                            } else {
                                if (counts[1]++ == 0) {
                                    firstError[0] = err;
                                }
                            }
                        }
                    }
                    zk.close();
                } catch (Exception e) {
                    synchronized (counts) {
                        if (counts[1]++ == 0) {
                            firstError[0] = e.toString();
                        }
                    }
                }
            });
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        List<Double> sorted = new ArrayList<>(samples);
        Collections.sort(sorted);
        System.out.printf("{\"mode\":\"throughput\",\"size\":%d,\"clients\":%d,\"seconds\":%.1f,\"writes\":%d,"
                + "\"writes_per_s\":%.1f,\"errors\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f}%n", size, clients, seconds,
                counts[0], counts[0] / seconds, counts[1], percentile(sorted, 0.5), percentile(sorted, 0.99));
        if (counts[1] > 0) {
            fail(counts[1] + " failed writes, the first: " + firstError[0]);
        }
    }

    static void stream() throws Exception {
        ZooKeeper zk = connect();
        ensure(zk, node(0));
        long end = System.nanoTime() + (long) (seconds * 1e9);
        long lastOk = 0, okWrites = 0, failures = 0;
        for (long n = 0; System.nanoTime() < end; n++) {
            try {
                zk.setData(node(0), value(n), -1);
            } catch (KeeperException e) {
                // ConnectionLoss while the ensemble elects (the client reconnects on its own)
                failures++;
                continue;
            }
            long now = wallNanos();
            okWrites++;
            if (okWrites == 1) {
                System.out.printf("{\"event\":\"first\",\"at_ns\":%d}%n", now);
                System.out.flush();
            }
            if (lastOk != 0 && now - lastOk > gapMs * 1_000_000L) {
                System.out.printf("{\"event\":\"gap\",\"from_ns\":%d,\"to_ns\":%d}%n", lastOk, now);
                System.out.flush();
            }
            lastOk = now;
        }
        System.out.printf("{\"event\":\"end\",\"writes\":%d,\"failed_attempts\":%d,\"last_ns\":%d}%n", okWrites,
                failures, lastOk);
        zk.close();
    }

    static long wallNanos() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            fail("usage: ZkQuorumClient latency|throughput|stream --servers H:P[,H:P...] [flags]");
        }
        String mode = args[0];
        try {
            for (int i = 1; i < args.length; i += 2) {
                if (i + 1 >= args.length) {
                    fail(args[i] + " wants a value");
                }
                String v = args[i + 1];
                switch (args[i]) {
                    case "--servers" -> servers = v;
                    case "--size" -> size = Integer.parseInt(v);
                    case "--writes" -> writes = Integer.parseInt(v);
                    case "--warmup" -> warmup = Integer.parseInt(v);
                    case "--clients" -> clients = Integer.parseInt(v);
                    case "--seconds" -> seconds = Double.parseDouble(v);
                    case "--gap-ms" -> gapMs = Long.parseLong(v);
                    default -> fail("unknown flag " + args[i]);
                }
            }
        } catch (NumberFormatException e) {
            fail("not a number: " + e.getMessage());
        }
        if (servers.isEmpty() || size < 16 || writes < 1 || clients < 1 || seconds <= 0) {
            fail("--servers is required; --size at least 16; --writes, --clients, --seconds positive");
        }
        switch (mode) {
            case "latency" -> latency();
            case "throughput" -> throughput();
            case "stream" -> stream();
            default -> fail("unknown mode " + mode);
        }
        System.exit(0);
    }
}
