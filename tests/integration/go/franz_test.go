package goclients

// franz-go (kgo for producing and consuming, kadm for administration) against the broker:
// keyed round trips with every codec, read back by assigning partitions (group consumers are in
// franz_groups_test.go), kgo's default keyed partitioner, and kadm's topic administration.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// kafkaVersion is the Apache Kafka release the clients are capped at (kgo.MaxVersions), the
// one tools/kafka runs: a broker that claimed a version beyond it would be caught here.
var kafkaVersion = kversion.V4_4_0

var kgoCodecs = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

var codecNames = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// newKgo makes a kgo client capped at Kafka 4.4's versions whose warnings and errors fail the
// test: kgo logs at those levels what it had to work around (retries, unexpected errors,
// responses it could not use), which a well-behaved broker gives it no cause for.
func newKgo(t *testing.T, b *broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	logger := &warningLog{}
	base := []kgo.Opt{
		kgo.SeedBrokers(b.bootstrap()),
		kgo.MaxVersions(kafkaVersion()),
		kgo.RetryTimeout(30 * time.Second),
		kgo.ClientID("trib-go-kgo"),
		kgo.WithLogger(logger),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(func() { // runs after cl.Close (cleanups run last first)
		if lines := logger.take(); len(lines) > 0 {
			t.Errorf("kgo logged %d warnings or errors:\n%s", len(lines), strings.Join(lines, "\n"))
		}
	})
	t.Cleanup(cl.Close)
	return cl
}

// warningLog is a kgo.Logger that keeps what kgo logs at warn level or above.
type warningLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *warningLog) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l *warningLog) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("%s %s %v", level, msg, keyvals))
}

func (l *warningLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.lines
	l.lines = nil
	return lines
}

func createTopicKadm(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err != nil {
		t.Fatalf("create %s: %v (%s)", topic, err, resp.ErrMessage)
	}
	if resp.NumPartitions != partitions || resp.ReplicationFactor != 1 {
		t.Fatalf("create %s: answered %d partitions, replication %d", topic, resp.NumPartitions, resp.ReplicationFactor)
	}
}

// value is compressible on its own, so every batch, even a one-record one, comes out smaller
// compressed (kgo sends a batch uncompressed when compressing does not make it smaller).
func value(codec string, i int) []byte {
	return []byte(fmt.Sprintf("%s value %06d %s", codec, i, strings.Repeat("tributary ", 12)))
}

// sent is one record as a client saw it: what went in, or what came back.
type sent struct {
	key, value []byte
	headers    string // "k=v;" for each header, in order
	timestamp  int64  // milliseconds
}

func kgoSent(r *kgo.Record) sent {
	var h strings.Builder
	for _, x := range r.Headers {
		fmt.Fprintf(&h, "%s=%s;", x.Key, x.Value)
	}
	return sent{r.Key, r.Value, h.String(), r.Timestamp.UnixMilli()}
}

// produced maps partition → offset → the record the producer was told went there.
type produced map[int32]map[int64]sent

func (p produced) add(t *testing.T, partition int32, offset int64, r sent) {
	t.Helper()
	if p[partition] == nil {
		p[partition] = map[int64]sent{}
	}
	if prev, dup := p[partition][offset]; dup {
		t.Fatalf("partition %d offset %d acknowledged twice: %q and %q", partition, offset, prev.key, r.key)
	}
	p[partition][offset] = r
}

func (p produced) count() int {
	n := 0
	for _, m := range p {
		n += len(m)
	}
	return n
}

// check: what was read back is exactly what was acknowledged, offsets dense from 0.
func (p produced) check(t *testing.T, topic string, read produced) {
	t.Helper()
	for part, want := range p {
		got := read[part]
		if len(got) != len(want) {
			t.Fatalf("%s[%d]: read %d records, produced %d", topic, part, len(got), len(want))
		}
		for off := int64(0); off < int64(len(want)); off++ {
			w, ok := want[off]
			if !ok {
				t.Fatalf("%s[%d]: acknowledged offsets are not dense: no %d", topic, part, off)
			}
			g := got[off]
			if string(g.key) != string(w.key) || string(g.value) != string(w.value) || g.headers != w.headers || g.timestamp != w.timestamp {
				t.Fatalf("%s[%d]@%d: read key %q value %q headers %q time %d, produced key %q value %q headers %q time %d",
					topic, part, off, g.key, g.value, g.headers, g.timestamp, w.key, w.value, w.headers, w.timestamp)
			}
		}
	}
	for part := range read {
		if _, ok := p[part]; !ok {
			t.Fatalf("%s[%d]: read %d records from a partition nothing was produced to", topic, part, len(read[part]))
		}
	}
}

// consumeKgo reads every partition of topic from offset 0 with kgo.ConsumePartitions until
// each has reached the end the producer saw.
func consumeKgo(t *testing.T, ctx context.Context, b *broker, topic string, partitions int32, want produced) produced {
	t.Helper()
	assign := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		assign[p] = kgo.NewOffset().AtStart()
	}
	cl := newKgo(t, b, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}),
		kgo.FetchMaxWait(500*time.Millisecond))
	read := produced{}
	for read.count() < want.count() {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: timed out with %d of %d records read", topic, read.count(), want.count())
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s[%d]: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Topic != topic {
				t.Fatalf("record of topic %q, assigned only %q", r.Topic, topic)
			}
			read.add(t, r.Partition, r.Offset, kgoSent(r))
		})
	}
	cl.Close()
	return read
}

func TestFranzGoRoundTripEveryCodec(t *testing.T) {
	b := startBroker(t)
	ctx := testContext(t, 90*time.Second)
	adm := kadm.NewClient(newKgo(t, b))
	const partitions, records = 3, 300
	for _, codec := range codecNames {
		t.Run(codec, func(t *testing.T) {
			topic := "kgo-" + codec
			createTopicKadm(t, ctx, adm, topic, partitions, nil)
			cl := newKgo(t, b, kgo.ProducerBatchCompression(kgoCodecs[codec]), kgo.DefaultProduceTopic(topic),
				kgo.ProducerLinger(5*time.Millisecond))
			recs := make([]*kgo.Record, records)
			base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
			for i := range recs {
				// Timestamps out of order within a batch (deltas below the first), and
				// headers on every third record.
				recs[i] = &kgo.Record{Key: []byte(fmt.Sprintf("key-%d", i%40)), Value: value(codec, i),
					Timestamp: base.Add(time.Duration((i*7919)%1000) * time.Millisecond)}
				if i%3 == 0 {
					recs[i].Headers = []kgo.RecordHeader{{Key: "trace", Value: []byte(fmt.Sprint(i))}, {Key: "empty"}}
				}
			}
			results := cl.ProduceSync(ctx, recs...)
			want := produced{}
			for _, r := range results {
				if r.Err != nil {
					t.Fatalf("produce: %v", r.Err)
				}
				// kgo's default partitioner puts a keyed record where the Java client would.
				if p := javaPartition(r.Record.Key, partitions); r.Record.Partition != p {
					t.Fatalf("key %q acknowledged on partition %d, murmur2 says %d", r.Record.Key, r.Record.Partition, p)
				}
				want.add(t, r.Record.Partition, r.Record.Offset, kgoSent(r.Record))
			}
			if len(want) != partitions {
				t.Fatalf("40 keys landed on %d of %d partitions", len(want), partitions)
			}
			want.check(t, topic, consumeKgo(t, ctx, b, topic, partitions, want))
			assertStoredWith(t, b, topic, codec)
			assertIdempotentBatches(t, b, topic) // kgo's default: idempotent, acks=all
		})
	}
}

// Records with the same key go to the same partition, the one murmur2 gives, with the
// partitioner kgo uses unless told otherwise (sticky for unkeyed, murmur2 for keyed), and the
// record is read back from that partition at the offset the broker acknowledged.
func TestFranzGoKeyedPartitioner(t *testing.T) {
	b := startBroker(t)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newKgo(t, b))
	const topic, partitions = "kgo-keys", 7
	createTopicKadm(t, ctx, adm, topic, partitions, nil)
	cl := newKgo(t, b, kgo.DefaultProduceTopic(topic))
	want := produced{}
	keyPartition := map[string]int32{}
	for round := 0; round < 3; round++ {
		var recs []*kgo.Record
		for k := 0; k < 50; k++ {
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("user-%d", k)), Value: []byte(fmt.Sprintf("r%d-k%d", round, k))})
		}
		for _, r := range cl.ProduceSync(ctx, recs...) {
			if r.Err != nil {
				t.Fatalf("produce: %v", r.Err)
			}
			key := string(r.Record.Key)
			if p, seen := keyPartition[key]; seen && p != r.Record.Partition {
				t.Fatalf("key %s on partitions %d and %d", key, p, r.Record.Partition)
			}
			keyPartition[key] = r.Record.Partition
			if p := javaPartition(r.Record.Key, partitions); r.Record.Partition != p {
				t.Fatalf("key %s acknowledged on partition %d, murmur2 says %d", key, r.Record.Partition, p)
			}
			want.add(t, r.Record.Partition, r.Record.Offset, kgoSent(r.Record))
		}
	}
	want.check(t, topic, consumeKgo(t, ctx, b, topic, partitions, want))
}

func TestFranzGoAdmin(t *testing.T) {
	b := startBroker(t)
	ctx := testContext(t, 60*time.Second)
	// kadm answers from kgo's metadata cache for up to MetadataMinAge (5 s by default): a
	// short one, so a deleted topic leaves the list as soon as the broker stops listing it.
	adm := kadm.NewClient(newKgo(t, b, kgo.MetadataMinAge(100*time.Millisecond)))
	topics := []string{"kadm-a", "kadm-b"}

	created, err := adm.CreateTopics(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, topics...)
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	if err := created.Error(); err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	// Creating one again: TOPIC_ALREADY_EXISTS, as Kafka answers.
	again, err := adm.CreateTopics(ctx, 2, 1, nil, topics[0])
	if err != nil {
		t.Fatalf("CreateTopics again: %v", err)
	}
	if e := again[topics[0]].Err; e != kerr.TopicAlreadyExists {
		t.Fatalf("CreateTopics of an existing topic: %v, want TOPIC_ALREADY_EXISTS", e)
	}
	// Invalid partition count: INVALID_PARTITIONS.
	bad, err := adm.CreateTopics(ctx, 0, 1, nil, "kadm-zero")
	if err != nil {
		t.Fatalf("CreateTopics with 0 partitions: %v", err)
	}
	if e := bad["kadm-zero"].Err; e != kerr.InvalidPartitions {
		t.Fatalf("CreateTopics with 0 partitions: %v, want INVALID_PARTITIONS", e)
	}

	listed, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	for _, topic := range topics {
		d, ok := listed[topic]
		if !ok || d.Err != nil {
			t.Fatalf("ListTopics: %s missing or failed (%v) in %v", topic, d.Err, listed.Names())
		}
		if len(d.Partitions) != 2 {
			t.Fatalf("ListTopics: %s has %d partitions, created 2", topic, len(d.Partitions))
		}
		for _, p := range d.Partitions {
			if p.Leader != 1 || len(p.Replicas) != 1 || len(p.ISR) != 1 || p.Err != nil {
				t.Fatalf("ListTopics: %s[%d] leader %d replicas %v isr %v err %v", topic, p.Partition, p.Leader, p.Replicas, p.ISR, p.Err)
			}
		}
	}
	if _, ok := listed["kadm-zero"]; ok {
		t.Fatalf("ListTopics lists kadm-zero, whose creation failed")
	}

	configs, err := adm.DescribeTopicConfigs(ctx, topics[0])
	if err != nil {
		t.Fatalf("DescribeTopicConfigs: %v", err)
	}
	rc, err := configs.On(topics[0], nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("DescribeTopicConfigs %s: %v %v", topics[0], err, rc.Err)
	}
	found := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		found[c.Key] = c
	}
	if c, ok := found["retention.ms"]; !ok || c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms: %+v (source %v), want 3600000 set on the topic", c, c.Source)
	}
	if c, ok := found["cleanup.policy"]; !ok || c.MaybeValue() != "delete" {
		t.Fatalf("cleanup.policy: %+v, want the default delete", c)
	}

	// IncrementalAlterConfigs: set one key, remove the one set at creation; DescribeConfigs
	// shows both.
	altered, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("2000000")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, topics[0])
	if err != nil {
		t.Fatalf("AlterTopicConfigs: %v", err)
	}
	for _, a := range altered {
		if a.Err != nil {
			t.Fatalf("AlterTopicConfigs %s: %v %s", a.Name, a.Err, a.ErrMessage)
		}
	}
	configs, err = adm.DescribeTopicConfigs(ctx, topics[0])
	if err != nil {
		t.Fatalf("DescribeTopicConfigs after altering: %v", err)
	}
	rc, _ = configs.On(topics[0], nil)
	found = map[string]kadm.Config{}
	for _, c := range rc.Configs {
		found[c.Key] = c
	}
	if c := found["max.message.bytes"]; c.MaybeValue() != "2000000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("max.message.bytes after altering: %q from %v", c.MaybeValue(), c.Source)
	}
	if c := found["retention.ms"]; c.Source == kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms after deleting it: %q still set on the topic", c.MaybeValue())
	}
	brokerConfigs, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatalf("DescribeBrokerConfigs: %v", err)
	}
	if bc, err := brokerConfigs.On("1", nil); err != nil || bc.Err != nil || len(bc.Configs) == 0 {
		t.Fatalf("DescribeBrokerConfigs 1: %v %v, %d configs", err, bc.Err, len(bc.Configs))
	}

	// DeleteRecords moves the start offset; ListStartOffsets reports it.
	prod := newKgo(t, b, kgo.DefaultProduceTopic(topics[0]), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 10; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i)), Partition: 0}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	var cut kadm.Offsets
	cut.Add(kadm.Offset{Topic: topics[0], Partition: 0, At: 4})
	dr, err := adm.DeleteRecords(ctx, cut)
	if err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	if r, ok := dr.Lookup(topics[0], 0); !ok || r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("DeleteRecords: %+v", r)
	}
	starts, err := adm.ListStartOffsets(ctx, topics[0])
	if err != nil {
		t.Fatalf("ListStartOffsets: %v", err)
	}
	if o, ok := starts.Lookup(topics[0], 0); !ok || o.Err != nil || o.Offset != 4 {
		t.Fatalf("ListStartOffsets after DeleteRecords to 4: %+v", o)
	}

	grown, err := adm.UpdatePartitions(ctx, 5, topics[1])
	if err != nil {
		t.Fatalf("UpdatePartitions: %v", err)
	}
	if err := grown.Error(); err != nil {
		t.Fatalf("UpdatePartitions: %v", err)
	}
	waitFor(t, ctx, "kadm-b to have 5 partitions", func() (bool, string) {
		d, err := adm.ListTopics(ctx, topics[1])
		if err != nil {
			return false, err.Error()
		}
		return len(d[topics[1]].Partitions) == 5, fmt.Sprintf("%d partitions", len(d[topics[1]].Partitions))
	})
	ends, err := adm.ListEndOffsets(ctx, topics[1])
	if err != nil {
		t.Fatalf("ListEndOffsets: %v", err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset != 0 {
			t.Fatalf("ListEndOffsets %s[%d]: %d %v, want 0", o.Topic, o.Partition, o.Offset, o.Err)
		}
	})
	if n := len(ends[topics[1]]); n != 5 {
		t.Fatalf("ListEndOffsets: %d partitions of %s, want 5", n, topics[1])
	}

	deleted, err := adm.DeleteTopics(ctx, topics...)
	if err != nil {
		t.Fatalf("DeleteTopics: %v", err)
	}
	if err := deleted.Error(); err != nil {
		t.Fatalf("DeleteTopics: %v", err)
	}
	waitFor(t, ctx, "deleted topics to leave the list", func() (bool, string) {
		l, err := adm.ListTopics(ctx)
		if err != nil {
			return false, err.Error()
		}
		return !l.Has(topics[0]) && !l.Has(topics[1]), fmt.Sprint(l.Names())
	})
	gone, err := adm.DeleteTopics(ctx, topics[0])
	if err != nil {
		t.Fatalf("DeleteTopics again: %v", err)
	}
	if e := gone[topics[0]].Err; e != kerr.UnknownTopicOrPartition {
		t.Fatalf("deleting a deleted topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", e)
	}
}

// waitFor polls cond every 50 ms until it holds or ctx ends (then fails with cond's last word).
func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	for ctx.Err() == nil {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}
