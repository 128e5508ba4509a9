package goclients

// sarama's ConsumerGroup (classic protocol, its default range strategy) against the broker's
// group coordinator, at sarama's newest protocol version and at its default: three members
// share six partitions and read each record once, and an offset marked and committed by one
// member resumes the next.

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaMember is one sarama ConsumerGroup whose Consume loop runs in its own goroutine; it
// keeps the partitions of its current session (nil between sessions) and what it read.
type saramaMember struct {
	topic   string
	mu      sync.Mutex
	claims  []int32
	records []*sarama.ConsumerMessage
	session sarama.ConsumerGroupSession
	errs    []error
	done    chan struct{}
}

func (m *saramaMember) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims = append([]int32(nil), s.Claims()[m.topic]...)
	sort.Slice(m.claims, func(i, j int) bool { return m.claims[i] < m.claims[j] })
	m.session = s
	return nil
}

func (m *saramaMember) Cleanup(sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims, m.session = nil, nil
	return nil
}

func (m *saramaMember) ConsumeClaim(_ sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		m.mu.Lock()
		m.records = append(m.records, msg)
		m.mu.Unlock()
	}
	return nil
}

func (m *saramaMember) state() ([]int32, []*sarama.ConsumerMessage, []error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int32(nil), m.claims...), append([]*sarama.ConsumerMessage(nil), m.records...), append([]error(nil), m.errs...)
}

func newSaramaMember(t *testing.T, b *broker, version sarama.KafkaVersion, group, topic string) *saramaMember {
	t.Helper()
	cfg := saramaConfig(version)
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	g, err := sarama.NewConsumerGroup([]string{b.bootstrap()}, group, cfg)
	if err != nil {
		t.Fatalf("sarama.NewConsumerGroup: %v", err)
	}
	m := &saramaMember{topic: topic, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, m); err != nil && ctx.Err() == nil {
				m.mu.Lock()
				m.errs = append(m.errs, err)
				m.mu.Unlock()
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-m.done
		if err := g.Close(); err != nil {
			t.Errorf("closing the consumer group: %v", err)
		}
	})
	return m
}

// sendSarama sends msgs with a SyncProducer of cfg (produceSarama checks keyed partitioning;
// these messages name their partitions).
func sendSarama(t *testing.T, b *broker, cfg *sarama.Config, msgs []*sarama.ProducerMessage) {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{b.bootstrap()}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewSyncProducer: %v", err)
	}
	defer p.Close()
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("SendMessages: %v", err)
	}
}

func TestSaramaGroupThreeMembersShareSixPartitions(t *testing.T) {
	for _, v := range []struct {
		name    string
		version sarama.KafkaVersion
	}{{"newest", sarama.MaxVersion}, {"default", sarama.DefaultVersion}} {
		t.Run(v.name, func(t *testing.T) {
			b := startBroker(t, fastGroups)
			ctx := testContext(t, 90*time.Second)
			const topic, group, partitions, records = "sarama-six", "sarama-trio", 6, 600
			createTopicSarama(t, newSaramaAdmin(t, b, v.version), topic, partitions)
			var members []*saramaMember
			for i := 0; i < 3; i++ {
				members = append(members, newSaramaMember(t, b, v.version, group, topic))
			}
			var parts [][]int32
			waitFor(t, ctx, "2 partitions each, all 6 assigned", func() (bool, string) {
				parts = nil
				all := map[int32]bool{}
				ok := true
				for _, m := range members {
					claims, _, errs := m.state()
					if len(errs) > 0 {
						t.Fatalf("Consume: %v", errs)
					}
					parts = append(parts, claims)
					ok = ok && len(claims) == 2
					for _, p := range claims {
						all[p] = true
					}
				}
				return ok && len(all) == partitions, fmt.Sprint(parts)
			})

			cfg := saramaConfig(v.version)
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			var msgs []*sarama.ProducerMessage
			for i := 0; i < records; i++ {
				msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(i % partitions),
					Value: sarama.StringEncoder(fmt.Sprintf("value-%d", i))})
			}
			sendSarama(t, b, cfg, msgs)
			waitFor(t, ctx, fmt.Sprintf("%d records", records), func() (bool, string) {
				n := 0
				for _, m := range members {
					_, recs, _ := m.state()
					n += len(recs)
				}
				return n >= records, fmt.Sprintf("%d read", n)
			})
			seen := map[string]bool{}
			for i, m := range members {
				claims, recs, _ := m.state()
				if fmt.Sprint(claims) != fmt.Sprint(parts[i]) {
					t.Fatalf("member %d: claims changed from %v to %v while consuming", i, parts[i], claims)
				}
				for _, r := range recs {
					if sort.Search(len(claims), func(j int) bool { return claims[j] >= r.Partition }) == len(claims) {
						t.Fatalf("member %d read partition %d, claims %v", i, r.Partition, claims)
					}
					var n int
					fmt.Sscanf(string(r.Value), "value-%d", &n)
					if int32(n%partitions) != r.Partition || int64(n/partitions) != r.Offset || seen[string(r.Value)] {
						t.Fatalf("%s read at %d@%d (read before: %v)", r.Value, r.Partition, r.Offset, seen[string(r.Value)])
					}
					seen[string(r.Value)] = true
				}
			}
			if len(seen) != records {
				t.Fatalf("read %d of %d records", len(seen), records)
			}
		})
	}
}

func TestSaramaGroupCommittedOffsetResumesANewMember(t *testing.T) {
	b := startBroker(t, fastGroups)
	ctx := testContext(t, 90*time.Second)
	const topic, group, records, at = "sarama-resume", "sarama-resumers", 100, 40
	createTopicSarama(t, newSaramaAdmin(t, b, sarama.MaxVersion), topic, 1)
	var msgs []*sarama.ProducerMessage
	for i := 0; i < records; i++ {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("value-%d", i))})
	}
	sendSarama(t, b, saramaConfig(sarama.MaxVersion), msgs)

	// A sub-test, so the first member's cleanup (leaving the group) runs before the second joins.
	t.Run("first", func(t *testing.T) {
		first := newSaramaMember(t, b, sarama.MaxVersion, group, topic)
		waitFor(t, ctx, "the first records", func() (bool, string) {
			_, recs, errs := first.state()
			return len(recs) >= at || len(errs) > 0, fmt.Sprintf("%d read, errors %v", len(recs), errs)
		})
		first.mu.Lock()
		s := first.session
		first.mu.Unlock()
		if s == nil {
			t.Fatalf("no session after reading")
		}
		s.MarkOffset(topic, 0, at, "resume here")
		s.Commit()
	})
	adm := newSaramaAdmin(t, b, sarama.MaxVersion)
	fetched, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0}})
	if err != nil {
		t.Fatalf("ListConsumerGroupOffsets: %v", err)
	}
	if blk := fetched.GetBlock(topic, 0); blk == nil || blk.Err != sarama.ErrNoError || blk.Offset != at || blk.Metadata != "resume here" {
		t.Fatalf("committed %+v, want offset %d", blk, at)
	}
	second := newSaramaMember(t, b, sarama.MaxVersion, group, topic)
	waitFor(t, ctx, "the records after the committed offset", func() (bool, string) {
		_, recs, _ := second.state()
		return len(recs) >= records-at, fmt.Sprintf("%d read", len(recs))
	})
	_, recs, _ := second.state()
	for i, r := range recs {
		if r.Offset != int64(at+i) {
			t.Fatalf("the new member read offset %d as its record %d, want %d", r.Offset, i, at+i)
		}
	}
}
