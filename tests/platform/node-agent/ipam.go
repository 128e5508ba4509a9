package main

import (
	"fmt"
	"net/netip"
	"sync"
)

// ipPool hands out addresses from a loopback prefix: pod IPs, and load balancer addresses
// (loadbalancer.go). It goes round the prefix instead of taking
// the lowest free address, so an address just freed is the last to be handed out again
// (a restarted pod's peers may still hold connections to the old one).
type ipPool struct {
	mu     sync.Mutex
	prefix netip.Prefix
	next   netip.Addr
	used   map[netip.Addr]string // address -> owner (pod uid)
}

func newIPPool(cidr string) (*ipPool, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", cidr, err)
	}
	p = p.Masked()
	if !p.Addr().Is4() || !p.Addr().IsLoopback() || p.Bits() > 30 {
		return nil, fmt.Errorf("%q: want an IPv4 prefix inside 127.0.0.0/8 with at least 4 addresses", cidr)
	}
	return &ipPool{prefix: p, next: p.Addr(), used: map[netip.Addr]string{}}, nil
}

// usable leaves out addresses ending in .0 or .255, which some tools treat as network or
// broadcast addresses even on loopback.
func usable(a netip.Addr) bool {
	b := a.As4()
	return b[3] != 0 && b[3] != 255
}

// allocate returns an address for owner; the same owner gets its address back.
func (p *ipPool) allocate(owner string) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, o := range p.used {
		if o == owner {
			return a, nil
		}
	}
	a := p.next
	for range 1 << (32 - p.prefix.Bits()) {
		a = a.Next()
		if !p.prefix.Contains(a) {
			a = p.prefix.Addr()
		}
		if _, taken := p.used[a]; !taken && usable(a) {
			p.used[a] = owner
			p.next = a
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no free address left in %s", p.prefix)
}

// claim takes a given address for owner (a pod that already had it) if it is free and in range.
func (p *ipPool) claim(a netip.Addr, owner string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.prefix.Contains(a) || !usable(a) {
		return false
	}
	if o, taken := p.used[a]; taken {
		return o == owner
	}
	p.used[a] = owner
	return true
}

func (p *ipPool) release(owner string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, o := range p.used {
		if o == owner {
			delete(p.used, a)
		}
	}
}
