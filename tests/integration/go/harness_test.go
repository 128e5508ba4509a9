// Package goclients drives the real tributary-broker with Go's two widely used Kafka clients,
// franz-go (kgo, kadm, kmsg, kversion) and IBM sarama. This file is the harness: it starts a
// broker the way tests/integration/harness.py does (a free loopback port, a folder of its own,
// the coordinator in-process), talks the protocol on a raw socket with kmsg, and reads record
// batch attributes straight from the broker's .log files.
//
// Every wait is bounded in time and every loop in count or time.
package goclients

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 20 * time.Second
	ioTimeout    = 10 * time.Second
)

// broker is one tributary-broker process: node 1, its own coordinator, data under root.
type broker struct {
	root    string
	dataDir string
	logPath string
	port    int
	cmd     *exec.Cmd
	done    chan error
}

func (b *broker) bootstrap() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

func brokerBinary(t *testing.T) string {
	path := os.Getenv("TRIB_BROKER")
	if path == "" {
		path = filepath.Join("..", "..", "..", "build", "broker", "tributary-broker")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatalf("broker binary %s: %v", path, err)
	}
	if st, err := os.Stat(abs); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("broker binary %s not found: build tributary-broker or set TRIB_BROKER", abs)
	}
	return abs
}

// testRoot is the test's folder: under TRIB_TEST_TMP (ctest points it into the build tree, so
// data and broker.log stay there until the next run) or a temporary folder Go removes.
func testRoot(t *testing.T) string {
	base := os.Getenv("TRIB_TEST_TMP")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("clearing %s: %v", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("making %s: %v", dir, err)
	}
	return dir
}

// freePort is a loopback port nobody listens on right now, chosen at random under the kernel's
// ephemeral range. A port from Listen(":0") is one the kernel may hand out again a moment later
// to any socket (a client connection, the coordinator a broker embeds), and a broker told to
// listen on it then fails to start; ports under the range are only taken by someone asking.
func freePort(t *testing.T) int {
	first := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				first = n
			}
		}
	}
	low := max(1024, first-12000)
	for range 200 {
		port := low + rand.IntN(first-low)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatalf("no free loopback port in %d..%d", low, first-1)
	return 0
}

// startBroker starts a broker for this test and stops it (SIGTERM) when the test ends; a failed
// test prints the broker's log. The broker is ready when it answers ApiVersions and its
// Metadata lists itself (it has registered with its coordinator).
func startBroker(t *testing.T, overrides ...string) *broker {
	t.Helper()
	bin := brokerBinary(t)
	root := testRoot(t)
	b := &broker{root: root, dataDir: filepath.Join(root, "data"), logPath: filepath.Join(root, "broker.log")}
	t.Cleanup(func() {
		rc := b.stop()
		if t.Failed() {
			t.Logf("broker exit: %v; log %s:\n%s", rc, b.logPath, b.logTail(20000))
		}
	})
	for attempt := 0; attempt < 5; attempt++ {
		b.port = freePort(t)
		args := []string{
			"--override", "node.id=1",
			"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d", b.port),
			"--override", fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", b.port),
			"--override", "log.dirs=" + b.dataDir,
		}
		for _, o := range overrides {
			args = append(args, "--override", o)
		}
		logFile, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatalf("broker log: %v", err)
		}
		fmt.Fprintf(logFile, "==== start: %s %s\n", bin, strings.Join(args, " "))
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.Env = brokerEnv()
		if err := cmd.Start(); err != nil {
			logFile.Close()
			t.Fatalf("starting %s: %v", bin, err)
		}
		logFile.Close() // the child has its own descriptor
		b.cmd, b.done = cmd, make(chan error, 1)
		go func() { b.done <- cmd.Wait() }()
		if b.waitReady() {
			return b
		}
		if b.exited() && strings.Contains(b.logTail(2000), "Address already in use") {
			continue // someone took the port between our probe and the bind: another one
		}
		break
	}
	t.Fatalf("broker did not become ready within %v", startTimeout)
	return nil
}

// brokerEnv is this process's environment less KAFKA_* (which the broker would read as config).
func brokerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAFKA_") {
			env = append(env, kv)
		}
	}
	return env
}

func (b *broker) exited() bool {
	select {
	case err := <-b.done:
		b.done <- err // keep it for stop()
		return true
	default:
		return false
	}
}

func (b *broker) waitReady() bool {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if b.exited() {
			return false
		}
		if b.answersMetadata() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func (b *broker) answersMetadata() bool {
	c, err := dialRaw(b.bootstrap())
	if err != nil {
		return false
	}
	defer c.close()
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(0)
	if raw, err := c.roundTrip(av); err != nil {
		return false
	} else if resp, err := decodeResponse(av, raw); err != nil || resp.(*kmsg.ApiVersionsResponse).ErrorCode != 0 {
		return false
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(1)
	md.Topics = []kmsg.MetadataRequestTopic{} // an empty list: no topics (null would be all)
	raw, err := c.roundTrip(md)
	if err != nil {
		return false
	}
	resp, err := decodeResponse(md, raw)
	if err != nil {
		return false
	}
	for _, br := range resp.(*kmsg.MetadataResponse).Brokers {
		if br.NodeID == 1 {
			return true
		}
	}
	return false
}

// stop sends SIGTERM and waits (SIGKILL after stopTimeout); returns how the process ended.
func (b *broker) stop() error {
	if b.cmd == nil || b.cmd.Process == nil {
		return nil
	}
	if !b.exited() {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case err := <-b.done:
		b.done <- err
		return err
	case <-time.After(stopTimeout):
		_ = b.cmd.Process.Kill()
		err := <-b.done
		b.done <- err
		return fmt.Errorf("did not stop within %v after SIGTERM, killed: %v", stopTimeout, err)
	}
}

func (b *broker) logTail(n int) string {
	data, err := os.ReadFile(b.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// ---- the Kafka protocol on a raw socket, encoded and decoded by kmsg ---------------------------

type rawConn struct {
	conn  net.Conn
	rd    *bufio.Reader
	fmt   *kmsg.RequestFormatter
	corr  int32
	frame []byte
}

func dialRaw(addr string) (*rawConn, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{conn: conn, rd: bufio.NewReader(conn), fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("trib-go-raw"))}, nil
}

func (c *rawConn) close() { c.conn.Close() }

// roundTrip sends req at its set version and returns the response body: the bytes after the
// response header (correlation id, and the header's tagged fields when the request is
// flexible, ApiVersions excepted: its response header is always v0). The correlation id must
// match; the header's tags must be well formed.
func (c *rawConn) roundTrip(req kmsg.Request) ([]byte, error) {
	c.corr++
	c.frame = c.fmt.AppendRequest(c.frame[:0], req, c.corr)
	_ = c.conn.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.conn.Write(c.frame); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.rd, size[:]); err != nil {
		return nil, fmt.Errorf("read size: %w", err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > 64<<20 {
		return nil, fmt.Errorf("response size %d", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.rd, buf); err != nil {
		return nil, fmt.Errorf("read %d bytes: %w", n, err)
	}
	if got := int32(binary.BigEndian.Uint32(buf)); got != c.corr {
		return nil, fmt.Errorf("correlation id %d, sent %d", got, c.corr)
	}
	body := buf[4:]
	if req.IsFlexible() && req.Key() != 18 {
		var err error
		if body, err = skipHeaderTags(body); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// skipHeaderTags checks and skips a flexible response header's tagged fields (all unknown to
// a client: it must be able to skip them by their lengths).
func skipHeaderTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("response header: bad tag count")
	}
	b = b[n:]
	for i := uint64(0); i < count; i++ {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, errors.New("response header: bad tag key")
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < size {
			return nil, errors.New("response header: bad tag size")
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// decodeResponse decodes body as the response to req with kmsg, strictly: ReadFrom must not
// run out of bytes, and encoding what it read again must give back exactly the same bytes, so
// nothing was left over (kmsg's ReadFrom alone ignores trailing bytes) and every field was in
// its one canonical form.
func decodeResponse(req kmsg.Request, body []byte) (kmsg.Response, error) {
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%s v%d response (%d bytes): %w", kmsg.NameForKey(req.Key()), req.GetVersion(), len(body), err)
	}
	if again := resp.AppendTo(nil); string(again) != string(body) {
		return resp, fmt.Errorf("%s v%d response: %d bytes re-encode as %d bytes, first difference at byte %d\nbroker: %x\nkmsg:   %x",
			kmsg.NameForKey(req.Key()), req.GetVersion(), len(body), len(again), firstDiff(body, again), body, again)
	}
	return resp, nil
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) < len(b) {
		return len(a)
	}
	return len(b)
}

// ---- record batches on disk --------------------------------------------------------------------

var codecIDs = map[string]int16{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

type storedBatch struct {
	attributes int16
	producerID int64
}

// storedBatches reads the header of every batch of topic from the broker's .log files: what
// the client really sent. A running broker's active segment may end in zeros (its direct
// writes' padding): a batch length below the smallest batch ends it.
func storedBatches(t *testing.T, b *broker, topic string) []storedBatch {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(b.dataDir, topic+"-*", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(logs)
	var batches []storedBatch
	for _, path := range logs {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for pos := 0; pos+61 <= len(data); {
			length := int(int32(binary.BigEndian.Uint32(data[pos+8:])))
			if length < 49 {
				break
			}
			batches = append(batches, storedBatch{
				attributes: int16(binary.BigEndian.Uint16(data[pos+21:])),
				producerID: int64(binary.BigEndian.Uint64(data[pos+43:])),
			})
			pos += 12 + length
		}
	}
	return batches
}

// storedCodecs counts the batches of topic on disk per codec id (the attributes' low 3 bits).
func storedCodecs(t *testing.T, b *broker, topic string) map[int16]int {
	t.Helper()
	counts := map[int16]int{}
	for _, sb := range storedBatches(t, b, topic) {
		counts[sb.attributes&7]++
	}
	return counts
}

// assertIdempotentBatches: every batch of topic on disk carries a producer id.
func assertIdempotentBatches(t *testing.T, b *broker, topic string) {
	t.Helper()
	for i, sb := range storedBatches(t, b, topic) {
		if sb.producerID < 0 {
			t.Fatalf("%s: batch %d on disk has producer id %d: not written by an idempotent producer", topic, i, sb.producerID)
		}
	}
}

// assertStoredWith: every batch of topic on disk uses codec (batches of a client that
// compresses are compressed even when small: both clients here do, unlike librdkafka).
func assertStoredWith(t *testing.T, b *broker, topic, codec string) {
	t.Helper()
	counts := storedCodecs(t, b, topic)
	want := codecIDs[codec]
	if len(counts) == 0 {
		t.Fatalf("%s: no batches on disk", topic)
	}
	if len(counts) != 1 || counts[want] == 0 {
		t.Fatalf("%s: batches per codec id %v, wanted all %s (%d)", topic, counts, codec, want)
	}
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// ---- partitioners, computed here independently of the clients --------------------------------

// murmur2 is the Java client's default partitioner hash (kgo's default for keyed records).
func murmur2(data []byte) int32 {
	const seed, m, r = uint32(0x9747b28c), uint32(0x5bd1e995), 24
	length := len(data)
	h := seed ^ uint32(length)
	for i := 0; i+4 <= length; i += 4 {
		k := binary.LittleEndian.Uint32(data[i:])
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[length&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

func javaPartition(key []byte, partitions int32) int32 {
	return (murmur2(key) & 0x7fffffff) % partitions
}
