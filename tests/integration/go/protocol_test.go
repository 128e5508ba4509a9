package goclients

// The broker's responses checked with franz-go's own protocol definitions, strictly:
//
//   - ApiVersions against kversion's table for Apache Kafka (kafkaVersion): every API the
//     broker claims is one Kafka has, at no version Kafka 4.4 lacks; the differences are logged.
//   - Every version of every API the broker claims, sent on a raw socket as kmsg encodes it:
//     the response must decode with kmsg (ReadFrom: no field runs past the end) and encode
//     back to exactly the bytes the broker sent (nothing left over, every field canonical),
//     the response header must carry the request's correlation id (and well-formed tags when
//     flexible), and the connection must go on serving.
//   - The same requests through kgo (Client.Broker(1).Request), which negotiates the version
//     from ApiVersions under kgo.MaxVersions(Kafka 4.4) and checks correlation ids, sizes and
//     header tags itself.
//   - Record batches in Fetch responses: each decodes as kmsg.RecordBatch with magic 2, its
//     length field spans it exactly, and its CRC-32C is right.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

const strictTopic = "strict"

var crc32c = crc32.MakeTable(crc32.Castagnoli)

type apiRange struct{ key, min, max int16 }

// Tributary's own APIs (protocol/defs, "tributary"): listed in ApiVersions beside Kafka's so
// tributary-admin can negotiate them; clients skip keys they don't know. Not Kafka's, so the
// comparisons with Kafka below leave them out.
var tributaryOwnKeys = map[int16]string{10200: "DrainBrokers"}

// claimedApis asks the broker for ApiVersions (v0: every broker answers it) and returns the
// Kafka APIs it claims, sorted by key (its own left out, once checked to be the ones expected).
func claimedApis(t *testing.T, c *rawConn) []apiRange {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	raw, err := c.roundTrip(req)
	if err != nil {
		t.Fatalf("ApiVersions v0: %v", err)
	}
	resp, err := decodeResponse(req, raw)
	if err != nil {
		t.Fatal(err)
	}
	av := resp.(*kmsg.ApiVersionsResponse)
	if av.ErrorCode != 0 {
		t.Fatalf("ApiVersions v0: error %d", av.ErrorCode)
	}
	var apis []apiRange
	seen := map[int16]bool{}
	for _, k := range av.ApiKeys {
		if seen[k.ApiKey] {
			t.Fatalf("ApiVersions lists key %d twice", k.ApiKey)
		}
		seen[k.ApiKey] = true
		if _, own := tributaryOwnKeys[k.ApiKey]; own {
			continue
		}
		apis = append(apis, apiRange{k.ApiKey, k.MinVersion, k.MaxVersion})
	}
	for k, name := range tributaryOwnKeys {
		if !seen[k] {
			t.Errorf("ApiVersions does not list Tributary's %s (key %d)", name, k)
		}
	}
	sort.Slice(apis, func(i, j int) bool { return apis[i].key < apis[j].key })
	return apis
}

func TestApiVersionsAgainstKafka(t *testing.T) {
	b := startBroker(t)
	c, err := dialRaw(b.bootstrap())
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	apis := claimedApis(t, c)
	kafka := kafkaVersion()
	var avMax int16 = -1
	for _, a := range apis {
		name := kmsg.NameForKey(a.key)
		if name == "" || kmsg.RequestForKey(a.key) == nil {
			t.Errorf("key %d: an API Kafka does not have (kmsg does not know it)", a.key)
			continue
		}
		if a.min < 0 || a.min > a.max {
			t.Errorf("%s: versions %d-%d", name, a.min, a.max)
		}
		kmax, ok := kafka.LookupMaxKeyVersion(a.key)
		if !ok {
			t.Errorf("%s: claimed, but Kafka %s has no such API", name, kafka.VersionGuess())
		} else if a.max > kmax {
			t.Errorf("%s: claims up to v%d, Kafka 4.4 has only up to v%d", name, a.max, kmax)
		}
		if a.key == 18 {
			avMax = a.max
		}
	}
	if avMax < 3 {
		t.Fatalf("ApiVersions claimed up to v%d; clients expect v3 (flexible)", avMax)
	}

	// The differences from Kafka 4.4, for the report: lower maxima and missing APIs.
	var lower, missing []string
	claimed := map[int16]apiRange{}
	for _, a := range apis {
		claimed[a.key] = a
	}
	kafka.EachMaxKeyVersion(func(k, v int16) {
		a, ok := claimed[k]
		switch {
		case !ok:
			missing = append(missing, kmsg.NameForKey(k))
		case a.max < v:
			lower = append(lower, fmt.Sprintf("%s v%d-%d (Kafka 4.4: up to v%d)", kmsg.NameForKey(k), a.min, a.max, v))
		}
	})
	t.Logf("below Kafka 4.4's maximum: %s", strings.Join(lower, "; "))
	t.Logf("not served (%d of Kafka 4.4's APIs): %s", len(missing), strings.Join(missing, ", "))

	// Every ApiVersions version it claims decodes strictly; v3+ carries the client's name.
	for v := int16(0); v <= avMax; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "trib-go-strict", "1.0"
		raw, err := c.roundTrip(req)
		if err != nil {
			t.Fatalf("ApiVersions v%d: %v", v, err)
		}
		resp, err := decodeResponse(req, raw)
		if err != nil {
			t.Fatal(err)
		}
		av := resp.(*kmsg.ApiVersionsResponse)
		if av.ErrorCode != 0 || len(av.ApiKeys) != len(apis)+len(tributaryOwnKeys) {
			t.Fatalf("ApiVersions v%d: error %d, %d keys (v0 listed %d and Tributary's own %d)", v, av.ErrorCode,
				len(av.ApiKeys), len(apis), len(tributaryOwnKeys))
		}
	}
	// A version above what it claims: UNSUPPORTED_VERSION in the v0 layout, with the versions
	// it does serve, so the client can retry lower (KIP-511); kgo reads it this way.
	if above := avMax + 1; above <= kmsg.NewPtrApiVersionsRequest().MaxVersion() {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(above)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "trib-go-strict", "1.0"
		raw, err := c.roundTrip(req)
		if err != nil {
			t.Fatalf("ApiVersions v%d: %v", above, err)
		}
		v0 := kmsg.NewPtrApiVersionsRequest()
		v0.SetVersion(0)
		resp, err := decodeResponse(v0, raw)
		if err != nil {
			t.Fatalf("ApiVersions v%d answered in the v0 layout: %v", above, err)
		}
		all := len(apis) + len(tributaryOwnKeys)
		if av := resp.(*kmsg.ApiVersionsResponse); av.ErrorCode != 35 || len(av.ApiKeys) != all {
			t.Fatalf("ApiVersions v%d: error %d with %d keys, want UNSUPPORTED_VERSION (35) with all %d", above, av.ErrorCode, len(av.ApiKeys), all)
		}
	}

	// kgo's own negotiation: the versions it picks are the broker's, capped at Kafka 4.4.
	cl := newKgo(t, b)
	ctx := testContext(t, 30*time.Second)
	resp, err := cl.Broker(1).Request(ctx, kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatalf("kgo ApiVersions: %v", err)
	}
	vs := kversion.FromApiVersionsResponse(resp.(*kmsg.ApiVersionsResponse))
	t.Logf("kversion's guess for the broker: %s", vs.VersionGuess())
	for _, a := range apis {
		if got, _ := vs.LookupMaxKeyVersion(a.key); got != a.max {
			t.Fatalf("%s: kgo read max v%d, raw v0 said v%d", kmsg.NameForKey(a.key), got, a.max)
		}
	}
}

// fixture is what the requests refer to: a topic with records, and its id.
type fixture struct {
	topicID    [16]byte
	partitions int32
}

// requestFor builds a meaningful request for key at version v: about strictTopic where the
// API takes topics, so the broker answers with real content (records, offsets, configs)
// rather than only errors. An API without a builder here is sent as kmsg's default request.
func requestFor(key, v int16, fx *fixture) kmsg.Request {
	str := func(s string) *string { return &s }
	var req kmsg.Request
	switch key {
	case 0: // Produce: one batch of two records to partition 0
		r := kmsg.NewPtrProduceRequest()
		r.Acks, r.TimeoutMillis = 1, 5000
		p := kmsg.NewProduceRequestTopicPartition()
		p.Partition, p.Records = 0, recordBatch(fmt.Sprintf("strict-v%d", v), 2)
		t := kmsg.NewProduceRequestTopic()
		t.Topic, t.TopicID, t.Partitions = strictTopic, fx.topicID, []kmsg.ProduceRequestTopicPartition{p}
		r.Topics = []kmsg.ProduceRequestTopic{t}
		req = r
	case 1: // Fetch from offset 0 of every partition, no waiting
		r := kmsg.NewPtrFetchRequest()
		r.MaxWaitMillis, r.MinBytes, r.MaxBytes = 0, 1, 1<<20
		t := kmsg.NewFetchRequestTopic()
		t.Topic, t.TopicID = strictTopic, fx.topicID
		for i := int32(0); i < fx.partitions; i++ {
			p := kmsg.NewFetchRequestTopicPartition()
			p.Partition, p.FetchOffset, p.PartitionMaxBytes = i, 0, 1<<20
			t.Partitions = append(t.Partitions, p)
		}
		r.Topics = []kmsg.FetchRequestTopic{t}
		req = r
	case 2: // ListOffsets: latest and earliest
		r := kmsg.NewPtrListOffsetsRequest()
		t := kmsg.NewListOffsetsRequestTopic()
		t.Topic = strictTopic
		for i, ts := range []int64{-1, -2} {
			p := kmsg.NewListOffsetsRequestTopicPartition()
			p.Partition, p.Timestamp = int32(i), ts
			t.Partitions = append(t.Partitions, p)
		}
		r.Topics = []kmsg.ListOffsetsRequestTopic{t}
		req = r
	case 3: // Metadata for the topic and one that does not exist (a new name per version)
		r := kmsg.NewPtrMetadataRequest()
		for _, name := range []string{strictTopic, fmt.Sprintf("strict-missing-v%d", v)} {
			t := kmsg.NewMetadataRequestTopic()
			t.Topic = str(name)
			r.Topics = append(r.Topics, t)
		}
		r.AllowAutoTopicCreation = false
		req = r
	case 10: // FindCoordinator of a group
		r := kmsg.NewPtrFindCoordinatorRequest()
		r.CoordinatorKey, r.CoordinatorKeys = "strict-group", []string{"strict-group"}
		req = r
	case 19: // CreateTopics: one new topic per version
		r := kmsg.NewPtrCreateTopicsRequest()
		r.TimeoutMillis = 10000
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions, t.ReplicationFactor = fmt.Sprintf("strict-created-v%d", v), 1, 1
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = "retention.ms", str("600000")
		t.Configs = []kmsg.CreateTopicsRequestTopicConfig{c}
		r.Topics = []kmsg.CreateTopicsRequestTopic{t}
		req = r
	case 20: // DeleteTopics: the one CreateTopics made at this version, and one never made
		r := kmsg.NewPtrDeleteTopicsRequest()
		r.TimeoutMillis = 10000
		for _, name := range []string{fmt.Sprintf("strict-created-v%d", v), "strict-never"} {
			r.TopicNames = append(r.TopicNames, name)
			t := kmsg.NewDeleteTopicsRequestTopic()
			t.Topic = str(name)
			r.Topics = append(r.Topics, t)
		}
		req = r
	case 21: // DeleteRecords below the start: nothing goes, the low watermark comes back
		r := kmsg.NewPtrDeleteRecordsRequest()
		r.TimeoutMillis = 5000
		t := kmsg.NewDeleteRecordsRequestTopic()
		t.Topic = strictTopic
		p := kmsg.NewDeleteRecordsRequestTopicPartition()
		p.Partition, p.Offset = 1, 0
		t.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{p}
		r.Topics = []kmsg.DeleteRecordsRequestTopic{t}
		req = r
	case 22: // InitProducerId for an idempotent producer
		r := kmsg.NewPtrInitProducerIDRequest()
		r.TransactionTimeoutMillis = 60000
		req = r
	case 32: // DescribeConfigs of the topic and of this broker, with synonyms and docs
		r := kmsg.NewPtrDescribeConfigsRequest()
		r.IncludeSynonyms, r.IncludeDocumentation = true, true
		for _, res := range []struct {
			typ  kmsg.ConfigResourceType
			name string
		}{{kmsg.ConfigResourceTypeTopic, strictTopic}, {kmsg.ConfigResourceTypeBroker, "1"}} {
			d := kmsg.NewDescribeConfigsRequestResource()
			d.ResourceType, d.ResourceName = res.typ, res.name
			r.Resources = append(r.Resources, d)
		}
		req = r
	case 33: // AlterConfigs of the topic
		r := kmsg.NewPtrAlterConfigsRequest()
		res := kmsg.NewAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, strictTopic
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "retention.ms", str("86400000")
		res.Configs = []kmsg.AlterConfigsRequestResourceConfig{c}
		r.Resources = []kmsg.AlterConfigsRequestResource{res}
		req = r
	case 37: // CreatePartitions of a topic of its own, one more partition per version
		r := kmsg.NewPtrCreatePartitionsRequest()
		r.TimeoutMillis = 10000
		t := kmsg.NewCreatePartitionsRequestTopic()
		t.Topic, t.Count = "strict-grow", int32(2+v)
		r.Topics = []kmsg.CreatePartitionsRequestTopic{t}
		req = r
	case 44: // IncrementalAlterConfigs: set one key of the topic
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, strictTopic
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = "retention.bytes", kmsg.IncrementalAlterConfigOpSet, str("1073741824")
		res.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{c}
		r.Resources = []kmsg.IncrementalAlterConfigsRequestResource{res}
		req = r
	case 18:
		r := kmsg.NewPtrApiVersionsRequest()
		r.ClientSoftwareName, r.ClientSoftwareVersion = "trib-go-strict", "1.0"
		req = r
	default:
		req = kmsg.RequestForKey(key)
	}
	req.SetVersion(v)
	return req
}

// recordBatch is a v2 record batch (magic 2, uncompressed) of n records, CRC and length set.
func recordBatch(prefix string, n int) []byte {
	var records []byte
	for i := 0; i < n; i++ {
		var body []byte
		body = append(body, 0)                     // attributes
		body = binary.AppendVarint(body, 0)        // timestamp delta
		body = binary.AppendVarint(body, int64(i)) // offset delta
		key, val := []byte(fmt.Sprintf("%s-k%d", prefix, i)), []byte(fmt.Sprintf("%s-v%d", prefix, i))
		body = binary.AppendVarint(body, int64(len(key)))
		body = append(body, key...)
		body = binary.AppendVarint(body, int64(len(val)))
		body = append(body, val...)
		body = binary.AppendVarint(body, 0) // no headers
		records = binary.AppendVarint(records, int64(len(body)))
		records = append(records, body...)
	}
	now := time.Now().UnixMilli()
	batch := kmsg.RecordBatch{Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: records, PartitionLeaderEpoch: -1}
	raw := batch.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32c))
	return raw
}

// checkBatches: every record batch in a fetched partition decodes as kmsg.RecordBatch, magic 2,
// its length spans exactly to the next batch and its CRC-32C matches. Returns the batches.
func checkBatches(where string, data []byte) (int, error) {
	n := 0
	for len(data) > 0 {
		if len(data) < 61 {
			return n, fmt.Errorf("%s: %d bytes after %d batches, less than a batch header", where, len(data), n)
		}
		size := 12 + int(int32(binary.BigEndian.Uint32(data[8:])))
		if size < 61 || size > len(data) {
			return n, fmt.Errorf("%s: batch %d claims %d bytes, %d left", where, n, size, len(data))
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(data[:size]); err != nil {
			return n, fmt.Errorf("%s: batch %d: %v", where, n, err)
		}
		if rb.Magic != 2 {
			return n, fmt.Errorf("%s: batch %d has magic %d", where, n, rb.Magic)
		}
		if got := int32(crc32.Checksum(data[21:size], crc32c)); got != rb.CRC {
			return n, fmt.Errorf("%s: batch %d CRC %08x, computed %08x", where, n, uint32(rb.CRC), uint32(got))
		}
		data = data[size:]
		n++
	}
	return n, nil
}

// checkContent: what a few responses must say beyond decoding (the rest may carry any error
// code, but must decode).
func checkContent(key int16, resp kmsg.Response) error {
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 || r.Topics[0].Partitions[0].ErrorCode != 0 {
			return fmt.Errorf("Produce: %+v", r.Topics)
		}
	case *kmsg.FetchResponse:
		if r.ErrorCode != 0 || len(r.Topics) != 1 {
			return fmt.Errorf("Fetch: error %d, %d topics", r.ErrorCode, len(r.Topics))
		}
		total := 0
		for _, p := range r.Topics[0].Partitions {
			if p.ErrorCode != 0 {
				return fmt.Errorf("Fetch partition %d: error %d", p.Partition, p.ErrorCode)
			}
			n, err := checkBatches(fmt.Sprintf("Fetch v%d partition %d", r.Version, p.Partition), p.RecordBatches)
			if err != nil {
				return err
			}
			total += n
		}
		if total == 0 {
			return fmt.Errorf("Fetch v%d: no batches from a topic with records", r.Version)
		}
	case *kmsg.MetadataResponse:
		if len(r.Brokers) != 1 || len(r.Topics) != 2 {
			return fmt.Errorf("Metadata: %d brokers, %d topics", len(r.Brokers), len(r.Topics))
		}
		for _, t := range r.Topics {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			switch {
			case name == strictTopic:
				if t.ErrorCode != 0 || len(t.Partitions) != 2 {
					return fmt.Errorf("Metadata %s: error %d, %d partitions", name, t.ErrorCode, len(t.Partitions))
				}
			case r.Version < 4:
				// Before v4 a request cannot say "don't create": the broker's
				// auto.create.topics.enable (true by default) decides. Apache Kafka 4.4
				// answers UNKNOWN_TOPIC_OR_PARTITION while it creates the topic, others
				// LEADER_NOT_AVAILABLE or the new partitions: checkAutoCreated looks later.
				if t.ErrorCode != 0 && t.ErrorCode != 3 && t.ErrorCode != 5 {
					return fmt.Errorf("Metadata v%d %s: error %d, want 0, 3 or 5", r.Version, name, t.ErrorCode)
				}
			default:
				if t.ErrorCode != 3 {
					return fmt.Errorf("Metadata v%d %s with AllowAutoTopicCreation=false: error %d, want UNKNOWN_TOPIC_OR_PARTITION (3)", r.Version, name, t.ErrorCode)
				}
			}
		}
	case *kmsg.DescribeConfigsResponse:
		for _, res := range r.Resources {
			if res.ErrorCode != 0 || len(res.Configs) == 0 {
				return fmt.Errorf("DescribeConfigs %s: error %d, %d configs", res.ResourceName, res.ErrorCode, len(res.Configs))
			}
		}
	case *kmsg.InitProducerIDResponse:
		if r.ErrorCode != 0 || r.ProducerID < 0 {
			return fmt.Errorf("InitProducerId: error %d, id %d", r.ErrorCode, r.ProducerID)
		}
	}
	return nil
}

// strictFixture makes the topic the requests refer to, with records in it, and reads its id.
func strictFixture(t *testing.T, b *broker) *fixture {
	t.Helper()
	ctx := testContext(t, 60*time.Second)
	cl := newKgo(t, b, kgo.DefaultProduceTopic(strictTopic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	fx := &fixture{partitions: 2}
	for _, name := range []string{strictTopic, "strict-grow"} {
		req := kmsg.NewPtrCreateTopicsRequest()
		tp := kmsg.NewCreateTopicsRequestTopic()
		tp.Topic, tp.NumPartitions, tp.ReplicationFactor = name, fx.partitions, 1
		req.Topics = []kmsg.CreateTopicsRequestTopic{tp}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("creating %s: %v %+v", name, err, resp)
		}
		if name == strictTopic {
			fx.topicID = resp.Topics[0].TopicID
		}
	}
	for i := 0; i < 20; i++ {
		r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)), Partition: int32(i % 2)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("producing to %s: %v", strictTopic, err)
		}
	}
	return fx
}

// Every version of every API the broker claims: the response decodes strictly with kmsg.
func TestEveryClaimedVersionDecodesStrictly(t *testing.T) {
	b := startBroker(t)
	fx := strictFixture(t, b)
	c, err := dialRaw(b.bootstrap())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.close() }()
	apis := claimedApis(t, c)
	sent := 0
	for _, a := range apis {
		kmax := kmsg.RequestForKey(a.key)
		if kmax == nil {
			t.Errorf("key %d: unknown to kmsg", a.key)
			continue
		}
		for v := a.min; v <= a.max && v <= kmax.MaxVersion(); v++ {
			req := requestFor(a.key, v, fx)
			raw, err := c.roundTrip(req)
			sent++
			if a.key == 0 && v < 3 {
				// Produce v0-v2 (message formats 0 and 1) are advertised but refused, as
				// Apache Kafka 4 does (KAFKA-18659: librdkafka only compresses when it sees
				// Produce v0 advertised). Refused means the connection closes, never a
				// response in some other layout.
				if err == nil {
					t.Errorf("Produce v%d: answered (%d bytes), want the connection closed", v, len(raw))
				}
				c.close()
				if c, err = dialRaw(b.bootstrap()); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s v%d: %v", kmsg.NameForKey(a.key), v, err)
				c.close()
				if c, err = dialRaw(b.bootstrap()); err != nil {
					t.Fatal(err)
				}
				continue
			}
			resp, err := decodeResponse(req, raw)
			if err != nil {
				t.Error(err)
				continue
			}
			if err := checkContent(a.key, resp); err != nil {
				t.Errorf("%s v%d: %v", kmsg.NameForKey(a.key), v, err)
			}
		}
	}
	t.Logf("%d requests over %d APIs, every response strict", sent, len(apis))
	for _, a := range apis {
		if a.key == 3 {
			checkAutoCreated(t, c, a.max)
		}
	}
}

// checkAutoCreated: the Metadata requests above made strict-missing-v0..v3 (auto creation
// before v4) and not strict-missing-v4 and up (AllowAutoTopicCreation=false).
func checkAutoCreated(t *testing.T, c *rawConn, maxVersion int16) {
	t.Helper()
	want := map[string]int16{}
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(maxVersion)
	for v := int16(0); v <= maxVersion; v++ {
		name := fmt.Sprintf("strict-missing-v%d", v)
		want[name] = 0
		if v >= 4 {
			want[name] = 3
		}
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, mt)
	}
	ctx := testContext(t, 10*time.Second)
	waitFor(t, ctx, "auto-created topics to appear", func() (bool, string) {
		raw, err := c.roundTrip(req)
		if err != nil {
			t.Fatalf("Metadata v%d: %v", maxVersion, err)
		}
		resp, err := decodeResponse(req, raw)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int16{}
		for _, tp := range resp.(*kmsg.MetadataResponse).Topics {
			got[*tp.Topic] = tp.ErrorCode
		}
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("error codes %v, want %v", got, want)
	})
}

// The same requests through kgo at the version it negotiates (capped at Kafka 4.4).
func TestEveryClaimedApiThroughKgo(t *testing.T) {
	b := startBroker(t)
	fx := strictFixture(t, b)
	raw, err := dialRaw(b.bootstrap())
	if err != nil {
		t.Fatal(err)
	}
	apis := claimedApis(t, raw)
	raw.close()
	cl := newKgo(t, b)
	ctx := testContext(t, 60*time.Second)
	kafka := kafkaVersion()
	for _, a := range apis {
		if kmsg.RequestForKey(a.key) == nil {
			continue // TestApiVersionsAgainstKafka reports it
		}
		want := a.max
		if kmax, ok := kafka.LookupMaxKeyVersion(a.key); ok && kmax < want {
			want = kmax
		}
		req := requestFor(a.key, want, fx)
		resp, err := cl.Broker(1).Request(ctx, req)
		if err != nil {
			t.Errorf("kgo %s: %v", kmsg.NameForKey(a.key), err)
			continue
		}
		if resp.GetVersion() != want {
			t.Errorf("kgo %s: sent v%d, want v%d", kmsg.NameForKey(a.key), resp.GetVersion(), want)
		}
		if err := checkContent(a.key, resp); err != nil {
			t.Errorf("kgo %s v%d: %v", kmsg.NameForKey(a.key), want, err)
		}
	}
}

// The strict decoding above catches what it claims to: a response with a byte too many or too
// few, and one whose re-encoding differs, fails (no broker needed).
func TestStrictDecodingCatchesMalformedResponses(t *testing.T) {
	for _, v := range []int16{1, 9, 12} { // non-flexible and flexible Metadata
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(v)
		resp := kmsg.NewPtrMetadataResponse()
		resp.SetVersion(v)
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = 1, "127.0.0.1", 9092
		resp.Brokers = []kmsg.MetadataResponseBroker{b}
		topic := kmsg.NewMetadataResponseTopic()
		topic.Topic = kmsg.StringPtr(strictTopic)
		topic.Partitions = []kmsg.MetadataResponseTopicPartition{kmsg.NewMetadataResponseTopicPartition()}
		resp.Topics = []kmsg.MetadataResponseTopic{topic}
		good := resp.AppendTo(nil)
		if _, err := decodeResponse(req, good); err != nil {
			t.Fatalf("v%d: a well-formed response fails: %v", v, err)
		}
		if _, err := decodeResponse(req, append(append([]byte{}, good...), 0)); err == nil {
			t.Fatalf("v%d: a trailing byte passes", v)
		}
		if _, err := decodeResponse(req, good[:len(good)-1]); err == nil {
			t.Fatalf("v%d: a missing byte passes", v)
		}
	}
	// A record batch with a wrong CRC, and one whose length runs past the data.
	batch := recordBatch("check", 2)
	if n, err := checkBatches("good", batch); err != nil || n != 1 {
		t.Fatalf("a good batch: %d, %v", n, err)
	}
	bad := append([]byte{}, batch...)
	bad[len(bad)-1] ^= 0xff
	if _, err := checkBatches("bad crc", bad); err == nil {
		t.Fatalf("a batch with a wrong CRC passes")
	}
	if _, err := checkBatches("short", batch[:len(batch)-1]); err == nil {
		t.Fatalf("a batch cut short passes")
	}
}
