package goclients

// franz-go's group consumer (kgo with ConsumerGroup, the classic protocol, its default
// cooperative-sticky balancer) against the broker's group coordinator: three members share six
// partitions and read each record once, and a committed offset resumes a new member.

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A new group doesn't wait the default 3 s for more members.
const fastGroups = "group.initial.rebalance.delay.ms=0"

// groupMember is one kgo group consumer polled by its own goroutine; it keeps its current
// assignment (from kgo's rebalance callbacks) and every record it reads.
type groupMember struct {
	cl      *kgo.Client
	mu      sync.Mutex
	owned   map[int32]bool
	records []*kgo.Record
	done    chan struct{}
}

func newGroupMember(t *testing.T, b *broker, group, topic string, extra ...kgo.Opt) *groupMember {
	t.Helper()
	m := &groupMember{owned: map[int32]bool{}, done: make(chan struct{})}
	drop := func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, p := range lost[topic] {
			delete(m.owned, p)
		}
	}
	opts := append([]kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(10 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, added map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range added[topic] {
				m.owned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(drop), kgo.OnPartitionsLost(drop),
	}, extra...)
	m.cl = newKgo(t, b, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fetches := m.cl.PollFetches(ctx)
			m.mu.Lock()
			fetches.EachRecord(func(r *kgo.Record) { m.records = append(m.records, r) })
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-m.done }) // before cl.Close, which leaves the group
	return m
}

func (m *groupMember) assigned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int32
	for p := range m.owned {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (m *groupMember) read() []*kgo.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*kgo.Record(nil), m.records...)
}

func TestFranzGoGroupThreeMembersShareSixPartitions(t *testing.T) {
	b := startBroker(t, fastGroups)
	ctx := testContext(t, 90*time.Second)
	const topic, group, partitions, records = "kgo-six", "kgo-trio", 6, 600
	createTopicKadm(t, ctx, kadm.NewClient(newKgo(t, b)), topic, partitions, nil)
	var members []*groupMember
	for i := 0; i < 3; i++ {
		members = append(members, newGroupMember(t, b, group, topic))
	}
	var parts [][]int32
	waitFor(t, ctx, "2 partitions each, all 6 assigned", func() (bool, string) {
		parts = nil
		all := map[int32]bool{}
		for _, m := range members {
			a := m.assigned()
			parts = append(parts, a)
			for _, p := range a {
				all[p] = true
			}
		}
		ok := len(all) == partitions
		for _, a := range parts {
			ok = ok && len(a) == 2
		}
		return ok, fmt.Sprint(parts)
	})

	producer := newKgo(t, b, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := 0; i < records; i++ {
		recs = append(recs, &kgo.Record{Partition: int32(i % partitions), Value: []byte(fmt.Sprintf("value-%d", i))})
	}
	if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	total := func() int {
		n := 0
		for _, m := range members {
			n += len(m.read())
		}
		return n
	}
	waitFor(t, ctx, fmt.Sprintf("%d records", records), func() (bool, string) {
		n := total()
		return n >= records, fmt.Sprintf("%d read", n)
	})
	seen := map[string]int{}
	for i, m := range members {
		if now := m.assigned(); fmt.Sprint(now) != fmt.Sprint(parts[i]) {
			t.Fatalf("member %d: assignment changed from %v to %v while consuming", i, parts[i], now)
		}
		mine := map[int32]bool{}
		for _, p := range parts[i] {
			mine[p] = true
		}
		for _, r := range m.read() {
			if !mine[r.Partition] {
				t.Fatalf("member %d read partition %d, assigned %v", i, r.Partition, parts[i])
			}
			// value-i was sent to partition i % 6 in order: it must sit at offset i / 6
			var v int
			fmt.Sscanf(string(r.Value), "value-%d", &v)
			if int32(v%partitions) != r.Partition || int64(v/partitions) != r.Offset {
				t.Fatalf("%s read at %d@%d", r.Value, r.Partition, r.Offset)
			}
			seen[string(r.Value)]++
		}
	}
	if len(seen) != records || total() != records {
		t.Fatalf("read %d distinct of %d records, %d in all", len(seen), records, total())
	}
}

func TestFranzGoGroupCommittedOffsetResumesANewMember(t *testing.T) {
	b := startBroker(t, fastGroups)
	ctx := testContext(t, 90*time.Second)
	const topic, group, records, at = "kgo-resume", "kgo-resumers", 100, 40
	adm := kadm.NewClient(newKgo(t, b))
	createTopicKadm(t, ctx, adm, topic, 1, nil)
	producer := newKgo(t, b, kgo.DefaultProduceTopic(topic))
	var recs []*kgo.Record
	for i := 0; i < records; i++ {
		recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf("value-%d", i))})
	}
	if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	first := newKgo(t, b, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	var offsets []int64
	for len(offsets) < at && ctx.Err() == nil {
		first.PollFetches(ctx).EachRecord(func(r *kgo.Record) { offsets = append(offsets, r.Offset) })
	}
	for i := 0; i < at; i++ {
		if offsets[i] != int64(i) {
			t.Fatalf("first member read offsets %v", offsets[:at])
		}
	}
	var commitErr error
	first.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: at}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if e := kerr.ErrorForCode(rp.ErrorCode); e != nil && commitErr == nil {
						commitErr = e
					}
				}
			}
		})
	if commitErr != nil {
		t.Fatalf("commit: %v", commitErr)
	}
	if err := first.LeaveGroupContext(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}

	fetched, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	if o, ok := fetched.Lookup(topic, 0); !ok || o.Err != nil || o.At != at {
		t.Fatalf("committed offset %+v (found %v), want %d", o, ok, at)
	}
	second := newGroupMember(t, b, group, topic)
	waitFor(t, ctx, "the records after the committed offset", func() (bool, string) {
		n := len(second.read())
		return n >= records-at, fmt.Sprintf("%d read", n)
	})
	for i, r := range second.read() {
		if r.Offset != int64(at+i) {
			t.Fatalf("the new member read offset %d as its record %d, want %d", r.Offset, i, at+i)
		}
	}
}
