package io.tributary.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Properties;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * The client defaults the other tests rely on by leaving them unset: a producer acks=all and
 * idempotent. Needs no server, so scripts/install-deps.sh runs it (online) to make Maven fetch
 * what Surefire resolves only when tests run, and the ctest run then works offline.
 */
class ClientDefaultsTest {
    @Test
    void producerDefaultsAreAcksAllAndIdempotent() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, "127.0.0.1:9");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        ProducerConfig config = new ProducerConfig(p);
        assertEquals("-1", config.getString(ProducerConfig.ACKS_CONFIG));
        assertTrue(config.getBoolean(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG));
    }
}
