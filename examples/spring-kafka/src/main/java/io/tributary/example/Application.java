package io.tributary.example;

import org.apache.kafka.clients.admin.NewTopic;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.ApplicationRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.config.TopicBuilder;
import org.springframework.kafka.core.KafkaTemplate;

/**
 * The everyday Spring Kafka application: a KafkaTemplate sends messages to topic1 and a
 * @KafkaListener in group testgroup prints each one it receives. Point it at a broker with
 * --spring.kafka.bootstrap-servers=HOST:PORT; --app.messages=N sets how many it sends.
 */
@SpringBootApplication
public class Application {

    public static void main(String[] args) {
        SpringApplication.run(Application.class, args);
    }

    /** Spring's KafkaAdmin creates topic1 at startup unless it exists. */
    @Bean
    public NewTopic topic1() {
        return TopicBuilder.name("topic1").partitions(3).replicas(1).build();
    }

    @Bean
    public ApplicationRunner sender(KafkaTemplate<String, String> template,
                                    @Value("${app.messages:10}") int messages) {
        return args -> {
            for (int i = 0; i < messages; i++) {
                String key = "key-" + i;
                String value = "message-" + i;
                // wait for each acknowledgement, so "Sent" means the broker has it
                var result = template.send("topic1", key, value).get();
                System.out.println("Sent: " + value + " partition " + result.getRecordMetadata().partition()
                        + " offset " + result.getRecordMetadata().offset());
            }
        };
    }

    @KafkaListener(topics = "topic1", groupId = "testgroup")
    public void listen(String message) {
        System.out.println("Received: " + message);
    }
}
