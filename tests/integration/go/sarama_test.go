package goclients

// IBM sarama against the broker: keyed round trips with every codec through the SyncProducer,
// read back with PartitionConsumers (no consumer group: the broker has no group coordinator
// yet), sarama's default hash partitioner, and ClusterAdmin's topic administration. Sarama
// chooses request versions from Config.Version, so the round trips run at the newest
// version it knows (with the idempotent producer) and at its default (2.8).

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

var saramaCodecs = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

func saramaConfig(version sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "trib-go-sarama"
	cfg.Version = version
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 500 * time.Millisecond
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Net.DialTimeout = 5 * time.Second
	return cfg
}

func newSaramaAdmin(t *testing.T, b *broker, version sarama.KafkaVersion) sarama.ClusterAdmin {
	t.Helper()
	adm, err := sarama.NewClusterAdmin([]string{b.bootstrap()}, saramaConfig(version))
	if err != nil {
		t.Fatalf("sarama.NewClusterAdmin: %v", err)
	}
	t.Cleanup(func() { adm.Close() })
	return adm
}

func createTopicSarama(t *testing.T, adm sarama.ClusterAdmin, topic string, partitions int32) {
	t.Helper()
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// saramaPartition is sarama's default partitioner (NewHashPartitioner) for a keyed message,
// computed here: FNV-1a 32 of the key as a signed int32, remainder, then its absolute value.
func saramaPartition(key []byte, partitions int32) int32 {
	h := fnv.New32a()
	h.Write(key)
	p := int32(h.Sum32()) % partitions
	if p < 0 {
		p = -p
	}
	return p
}

// produceSarama sends msgs with one SendMessages call (sarama batches them per partition)
// and returns what each was acknowledged as; every key must land where sarama's default
// partitioner puts it.
func produceSarama(t *testing.T, b *broker, cfg *sarama.Config, msgs []*sarama.ProducerMessage, partitions int32) produced {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{b.bootstrap()}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewSyncProducer: %v", err)
	}
	defer p.Close()
	if err := p.SendMessages(msgs); err != nil {
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) && len(perrs) > 0 {
			t.Fatalf("SendMessages: %d failed, first: %v", len(perrs), perrs[0].Err)
		}
		t.Fatalf("SendMessages: %v", err)
	}
	want := produced{}
	for _, m := range msgs {
		key, _ := m.Key.Encode()
		val, _ := m.Value.Encode()
		if p := saramaPartition(key, partitions); m.Partition != p {
			t.Fatalf("key %q acknowledged on partition %d, sarama's hash partitioner says %d", key, m.Partition, p)
		}
		var h strings.Builder
		for _, x := range m.Headers {
			fmt.Fprintf(&h, "%s=%s;", x.Key, x.Value)
		}
		want.add(t, m.Partition, m.Offset, sent{key, val, h.String(), m.Timestamp.UnixMilli()})
	}
	return want
}

// consumeSarama reads each partition from the oldest offset with a PartitionConsumer until it
// has as many records as were produced there. All partitions are subscribed first: a consumer
// subscribed later waits for the long poll under way (Consumer.MaxWaitTime) to end first.
func consumeSarama(t *testing.T, ctx context.Context, b *broker, cfg *sarama.Config, topic string, want produced) produced {
	t.Helper()
	c, err := sarama.NewConsumer([]string{b.bootstrap()}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewConsumer: %v", err)
	}
	defer c.Close()
	pcs := map[int32]sarama.PartitionConsumer{}
	for part := range want {
		pc, err := c.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("ConsumePartition %s[%d]: %v", topic, part, err)
		}
		defer pc.AsyncClose()
		pcs[part] = pc
	}
	read := produced{}
	for part, recs := range want {
		pc := pcs[part]
		for n := 0; n < len(recs); {
			select {
			case m := <-pc.Messages():
				if m.Topic != topic || m.Partition != part {
					t.Fatalf("message of %s[%d] from the consumer of %s[%d]", m.Topic, m.Partition, topic, part)
				}
				var h strings.Builder
				for _, x := range m.Headers {
					fmt.Fprintf(&h, "%s=%s;", x.Key, x.Value)
				}
				read.add(t, m.Partition, m.Offset, sent{m.Key, m.Value, h.String(), m.Timestamp.UnixMilli()})
				n++
			case e := <-pc.Errors():
				t.Fatalf("consume %s[%d]: %v", topic, part, e.Err)
			case <-ctx.Done():
				t.Fatalf("%s[%d]: timed out with %d of %d records read", topic, part, n, len(recs))
			}
		}
		if hw := pc.HighWaterMarkOffset(); hw != int64(len(recs)) {
			t.Fatalf("%s[%d]: high watermark %d after reading %d records", topic, part, hw, len(recs))
		}
	}
	return read
}

func TestSaramaRoundTripEveryCodec(t *testing.T) {
	b := startBroker(t)
	ctx := testContext(t, 90*time.Second)
	versions := []struct {
		name    string
		version sarama.KafkaVersion
	}{{"newest", sarama.MaxVersion}, {"default", sarama.DefaultVersion}}
	const partitions, records = 3, 300
	for _, v := range versions {
		adm := newSaramaAdmin(t, b, v.version)
		for _, codec := range codecNames {
			t.Run(v.name+"/"+codec, func(t *testing.T) {
				topic := "sarama-" + v.name + "-" + codec
				createTopicSarama(t, adm, topic, partitions)
				cfg := saramaConfig(v.version)
				cfg.Producer.Compression = saramaCodecs[codec]
				if v.name == "newest" {
					// Idempotent: InitProducerId, then sequence numbers per partition.
					cfg.Producer.Idempotent = true
					cfg.Net.MaxOpenRequests = 1
				}
				msgs := make([]*sarama.ProducerMessage, records)
				base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
				for i := range msgs {
					// Timestamps out of order within a batch, headers on every third.
					msgs[i] = &sarama.ProducerMessage{Topic: topic,
						Key:       sarama.StringEncoder(fmt.Sprintf("key-%d", i%40)),
						Value:     sarama.ByteEncoder(value(codec, i)),
						Timestamp: base.Add(time.Duration((i*7919)%1000) * time.Millisecond)}
					if i%3 == 0 {
						msgs[i].Headers = []sarama.RecordHeader{{Key: []byte("trace"), Value: []byte(fmt.Sprint(i))}, {Key: []byte("empty")}}
					}
				}
				want := produceSarama(t, b, cfg, msgs, partitions)
				if len(want) != partitions {
					t.Fatalf("40 keys landed on %d of %d partitions", len(want), partitions)
				}
				want.check(t, topic, consumeSarama(t, ctx, b, cfg, topic, want))
				assertStoredWith(t, b, topic, codec)
				if cfg.Producer.Idempotent {
					assertIdempotentBatches(t, b, topic)
				}
			})
		}
	}
}

// Records with the same key go to the same partition, the one sarama's default partitioner
// gives, and are read back from there at the offsets the broker acknowledged.
func TestSaramaKeyedPartitioner(t *testing.T) {
	b := startBroker(t)
	ctx := testContext(t, 60*time.Second)
	const topic, partitions = "sarama-keys", 7
	createTopicSarama(t, newSaramaAdmin(t, b, sarama.MaxVersion), topic, partitions)
	cfg := saramaConfig(sarama.MaxVersion)
	want := produced{}
	keyPartition := map[string]int32{}
	for round := 0; round < 3; round++ {
		var msgs []*sarama.ProducerMessage
		for k := 0; k < 50; k++ {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic,
				Key: sarama.StringEncoder(fmt.Sprintf("user-%d", k)), Value: sarama.StringEncoder(fmt.Sprintf("r%d-k%d", round, k)),
				Timestamp: time.Now().Truncate(time.Millisecond)})
		}
		for part, recs := range produceSarama(t, b, cfg, msgs, partitions) {
			for off, r := range recs {
				if p, seen := keyPartition[string(r.key)]; seen && p != part {
					t.Fatalf("key %s on partitions %d and %d", r.key, p, part)
				}
				keyPartition[string(r.key)] = part
				want.add(t, part, off, r)
			}
		}
	}
	if len(want) < 5 {
		t.Fatalf("50 keys landed on only %d of %d partitions", len(want), partitions)
	}
	want.check(t, topic, consumeSarama(t, ctx, b, cfg, topic, want))
}

func TestSaramaAdmin(t *testing.T) {
	b := startBroker(t)
	ctx := testContext(t, 60*time.Second)
	adm := newSaramaAdmin(t, b, sarama.MaxVersion)
	retention := "7200000"
	if err := adm.CreateTopic("sarama-a", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention}}, false); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	createTopicSarama(t, adm, "sarama-b", 1)
	err := adm.CreateTopic("sarama-a", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false)
	if !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Fatalf("CreateTopic of an existing topic: %v, want ErrTopicAlreadyExists", err)
	}
	err = adm.CreateTopic("sarama-c", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3}, false)
	if !errors.Is(err, sarama.ErrInvalidReplicationFactor) {
		t.Fatalf("CreateTopic with replication 3 on one broker: %v, want ErrInvalidReplicationFactor", err)
	}

	// ListTopics: Metadata, then DescribeConfigs for every topic.
	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	a, ok := topics["sarama-a"]
	if !ok || a.NumPartitions != 2 || a.ReplicationFactor != 1 {
		t.Fatalf("ListTopics: sarama-a %+v (listed %v)", a, len(topics))
	}
	if v := a.ConfigEntries["retention.ms"]; v == nil || *v != retention {
		t.Fatalf("ListTopics: sarama-a retention.ms %v, want %s", v, retention)
	}
	if _, ok := topics["sarama-b"]; !ok {
		t.Fatalf("ListTopics: no sarama-b")
	}
	if _, ok := topics["sarama-c"]; ok {
		t.Fatalf("ListTopics lists sarama-c, whose creation failed")
	}

	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "sarama-a"})
	if err != nil {
		t.Fatalf("DescribeConfig: %v", err)
	}
	byName := map[string]sarama.ConfigEntry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	if e, ok := byName["retention.ms"]; !ok || e.Value != retention || e.Source != sarama.SourceTopic || e.Default {
		t.Fatalf("DescribeConfig retention.ms: %+v, want %s from the topic", e, retention)
	}
	if e, ok := byName["cleanup.policy"]; !ok || e.Value != "delete" || e.Source != sarama.SourceDefault {
		t.Fatalf("DescribeConfig cleanup.policy: %+v, want the default delete", e)
	}

	// IncrementalAlterConfig, then DescribeConfig shows the new value set on the topic.
	size := "3000000"
	if err := adm.IncrementalAlterConfig(sarama.TopicResource, "sarama-a", map[string]sarama.IncrementalAlterConfigsEntry{
		"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &size}}, false); err != nil {
		t.Fatalf("IncrementalAlterConfig: %v", err)
	}
	entries, err = adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "sarama-a", ConfigNames: []string{"max.message.bytes"}})
	if err != nil || len(entries) != 1 || entries[0].Value != size || entries[0].Source != sarama.SourceTopic {
		t.Fatalf("DescribeConfig max.message.bytes after altering: %+v, %v", entries, err)
	}

	// DeleteRecords up to offset 3 of partition 0 after producing 5 records there.
	cfg := saramaConfig(sarama.MaxVersion)
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{b.bootstrap()}, cfg)
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	for i := 0; i < 5; i++ {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "sarama-a", Partition: 0, Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
	}
	p.Close()
	if err := adm.DeleteRecords("sarama-a", map[int32]int64{0: 3}); err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	client, err := sarama.NewClient([]string{b.bootstrap()}, saramaConfig(sarama.MaxVersion))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	oldest, err := client.GetOffset("sarama-a", 0, sarama.OffsetOldest)
	newest, err2 := client.GetOffset("sarama-a", 0, sarama.OffsetNewest)
	client.Close()
	if err != nil || err2 != nil || oldest != 3 || newest != 5 {
		t.Fatalf("offsets after DeleteRecords to 3: oldest %d (%v), newest %d (%v), want 3 and 5", oldest, err, newest, err2)
	}

	brokers, controller, err := adm.DescribeCluster()
	if err != nil || len(brokers) != 1 || brokers[0].ID() != 1 || controller != 1 {
		t.Fatalf("DescribeCluster: %v brokers, controller %d, %v", len(brokers), controller, err)
	}

	if err := adm.CreatePartitions("sarama-b", 4, nil, false); err != nil {
		t.Fatalf("CreatePartitions: %v", err)
	}
	waitFor(t, ctx, "sarama-b to have 4 partitions", func() (bool, string) {
		md, err := adm.DescribeTopics([]string{"sarama-b"})
		if err != nil {
			return false, err.Error()
		}
		if len(md) != 1 || md[0].Err != sarama.ErrNoError {
			return false, fmt.Sprintf("%+v", md)
		}
		return len(md[0].Partitions) == 4, fmt.Sprintf("%d partitions", len(md[0].Partitions))
	})
	if err := adm.CreatePartitions("sarama-b", 2, nil, false); !errors.Is(err, sarama.ErrInvalidPartitions) {
		t.Fatalf("CreatePartitions to fewer partitions: %v, want ErrInvalidPartitions", err)
	}

	for _, topic := range []string{"sarama-a", "sarama-b"} {
		if err := adm.DeleteTopic(topic); err != nil {
			t.Fatalf("DeleteTopic %s: %v", topic, err)
		}
	}
	waitFor(t, ctx, "deleted topics to leave the list", func() (bool, string) {
		l, err := adm.ListTopics()
		if err != nil {
			return false, err.Error()
		}
		_, hasA := l["sarama-a"]
		_, hasB := l["sarama-b"]
		return !hasA && !hasB, fmt.Sprint(len(l), " topics")
	})
	if err := adm.DeleteTopic("sarama-a"); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatalf("DeleteTopic of a deleted topic: %v, want ErrUnknownTopicOrPartition", err)
	}
}
