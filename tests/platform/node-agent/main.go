// tributary-node-agent stands in for the kubelet in Tributary's tests: it registers Nodes and
// runs the pods bound to them as local processes on their own loopback IPs. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type config struct {
	kubeconfig    string
	nodes         []string
	stateDir      string
	podIPs        string
	lbIPs         string
	images        map[string][]string // image name (tag stripped) -> directories
	entrypoints   map[string]string   // image name -> default command when a container has none
	clusterDomain string
	cpu, memory   resource.Quantity
	maxPods       int
	maxBackoff    time.Duration
	shutdownGrace time.Duration
	runtime       string
}

// repeated collects a flag given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("tributary-node-agent", flag.ContinueOnError)
	c := &config{images: map[string][]string{}, entrypoints: map[string]string{}}
	var nodes, images, entrypoints repeated
	var cpu, memory string
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig of the API server (required)")
	fs.Var(&nodes, "node", "name of a Node to register and run pods for (repeatable, at least one)")
	fs.StringVar(&c.stateDir, "state-dir", "", "directory for pod files, logs and volumes (required)")
	fs.StringVar(&c.podIPs, "pod-ips", "127.1.0.0/16", "loopback prefix pod IPs are taken from")
	fs.StringVar(&c.lbIPs, "lb-ips", "", "loopback prefix LoadBalancer Service addresses are taken from (empty: no load balancer stand-in)")
	fs.Var(&images, "image", "IMAGE=DIR[:DIR...]: a container of IMAGE runs commands found in these directories (repeatable)")
	fs.Var(&entrypoints, "image-entrypoint", "IMAGE=COMMAND: what a container of IMAGE runs when it sets no command (its ENTRYPOINT)")
	fs.StringVar(&c.clusterDomain, "cluster-domain", "cluster.local", "DNS domain of pod names in /etc/hosts")
	fs.StringVar(&cpu, "cpu", "4", "cpu capacity each node reports")
	fs.StringVar(&memory, "memory", "8Gi", "memory capacity each node reports")
	fs.IntVar(&c.maxPods, "max-pods", 110, "pod capacity each node reports")
	fs.DurationVar(&c.maxBackoff, "max-backoff", 5*time.Minute, "cap of the restart back-off (Kubernetes: 5m; tests use less)")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 10*time.Second, "longest grace period pods get when the agent stops")
	fs.StringVar(&c.runtime, "runtime", "process", "how containers run: process (the image's binaries from --image directories) or buildah (images not mapped with --image run as local images through buildah run)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.kubeconfig == "" || c.stateDir == "" || len(nodes) == 0 {
		return nil, fmt.Errorf("--kubeconfig, --state-dir and at least one --node are required")
	}
	if c.runtime != "process" && c.runtime != "buildah" {
		return nil, fmt.Errorf("--runtime %q: want process or buildah (see README.md)", c.runtime)
	}
	c.nodes = nodes
	for _, im := range images {
		name, dirs, ok := strings.Cut(im, "=")
		if !ok || name == "" || dirs == "" {
			return nil, fmt.Errorf("--image %q: want IMAGE=DIR[:DIR...]", im)
		}
		c.images[imageKey(name)] = strings.Split(dirs, ":")
	}
	for _, e := range entrypoints {
		name, cmd, ok := strings.Cut(e, "=")
		if !ok || name == "" || cmd == "" {
			return nil, fmt.Errorf("--image-entrypoint %q: want IMAGE=COMMAND", e)
		}
		c.entrypoints[imageKey(name)] = cmd
	}
	var err error
	if c.cpu, err = resource.ParseQuantity(cpu); err != nil {
		return nil, fmt.Errorf("--cpu %q: %v", cpu, err)
	}
	if c.memory, err = resource.ParseQuantity(memory); err != nil {
		return nil, fmt.Errorf("--memory %q: %v", memory, err)
	}
	if c.maxBackoff < time.Second {
		return nil, fmt.Errorf("--max-backoff must be at least 1s")
	}
	return c, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == initCommand {
		containerInit(os.Args[2:]) // never returns
	}
	log.SetFlags(log.Ldate | log.Ltime | log.Lmicroseconds)
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tributary-node-agent:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		log.Printf("tributary-node-agent: %v", err)
		os.Exit(1)
	}
}

func run(cfg *config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (it makes mount namespaces and bind mounts for pods)")
	}
	rest, err := clientcmd.BuildConfigFromFlags("", cfg.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %v", err)
	}
	rest.UserAgent = "tributary-node-agent"
	rest.QPS, rest.Burst = 50, 100 // the kubelet's defaults; client-go's 5/10 makes pod starts queue
	client, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := newAgent(cfg, client, rest.Host)
	if err != nil {
		return err
	}
	return a.run(ctx)
}
