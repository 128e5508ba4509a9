package main

import (
	"net/netip"
	"testing"
)

func TestIPPoolDistinctAndNoEarlyReuse(t *testing.T) {
	p, err := newIPPool("127.1.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := p.allocate("a")
	b, _ := p.allocate("b")
	if a == b || a.String() != "127.1.0.1" || b.String() != "127.1.0.2" {
		t.Fatalf("got %v %v", a, b)
	}
	if again, _ := p.allocate("a"); again != a {
		t.Fatalf("same owner got %v, want %v", again, a)
	}
	p.release("a")
	c, _ := p.allocate("c")
	if c == a || c == b {
		t.Fatalf("freed address %v handed out again at once", c)
	}
}

func TestIPPoolSkipsZeroAnd255AndRunsOut(t *testing.T) {
	p, err := newIPPool("127.2.0.0/30") // .0 .1 .2 .3
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]bool{}
	for _, o := range []string{"a", "b", "c"} {
		a, err := p.allocate(o)
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] || !usable(a) {
			t.Fatalf("bad address %v", a)
		}
		seen[a] = true
	}
	if _, err := p.allocate("d"); err == nil {
		t.Fatal("want an error when the pool is full")
	}
	p.release("b")
	if _, err := p.allocate("d"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

func TestIPPoolClaimAndBadPrefixes(t *testing.T) {
	p, _ := newIPPool("127.1.0.0/16")
	a := netip.MustParseAddr("127.1.3.4")
	if !p.claim(a, "x") || p.claim(a, "y") || !p.claim(a, "x") {
		t.Fatal("claim must give an address to one owner only")
	}
	if p.claim(netip.MustParseAddr("127.9.0.1"), "z") {
		t.Fatal("claim outside the prefix must fail")
	}
	for _, bad := range []string{"10.0.0.0/8", "127.0.0.1/32", "nonsense", "::1/128"} {
		if _, err := newIPPool(bad); err == nil {
			t.Errorf("newIPPool(%q) should fail", bad)
		}
	}
}
