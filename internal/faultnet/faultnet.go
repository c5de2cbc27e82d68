// Package faultnet injects network faults into one node's outgoing traffic, for tests:
// blocked, black-holed and delayed destinations, for gossip and for replication links.
package faultnet

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Faults injects network faults into one node's outgoing traffic, for tests: gossip through
// Transport, replication through Dial. Blocking a peer's addresses on both nodes partitions
// them; blocking on one side only makes a one-way fault.
type Faults struct {
	mu      sync.Mutex
	blocked map[string]bool // destination addresses
	holed   map[string]bool // destinations whose traffic is silently dropped
	delay   map[string]time.Duration
	conns   map[net.Conn]string
	refused int // dials refused because their destination was blocked
}

// New returns a Faults with nothing blocked.
func New() *Faults {
	return &Faults{blocked: map[string]bool{}, holed: map[string]bool{}, delay: map[string]time.Duration{}, conns: map[net.Conn]string{}}
}

// Block drops all traffic to addrs and cuts open connections to them.
func (f *Faults) Block(addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range addrs {
		f.blocked[a] = true
	}
	for c, a := range f.conns {
		if f.blocked[a] {
			c.Close()
			delete(f.conns, c)
		}
	}
}

// Blackhole makes connections to addrs swallow what is written to them, as a paused peer's
// kernel does: writes succeed, no answer ever comes.
func (f *Faults) Blackhole(addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range addrs {
		f.holed[a] = true
	}
}

// Delay adds latency to traffic to addr.
func (f *Faults) Delay(addr string, d time.Duration) {
	f.mu.Lock()
	f.delay[addr] = d
	f.mu.Unlock()
}

// Refused counts the dials refused so far because their destination was blocked.
func (f *Faults) Refused() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

// Heal removes every fault.
func (f *Faults) Heal() {
	f.mu.Lock()
	clear(f.blocked)
	clear(f.holed)
	clear(f.delay)
	f.mu.Unlock()
}

func (f *Faults) check(addr string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delay[addr], f.blocked[addr]
}

var errBlocked = errors.New("faults: destination blocked")

// Dial dials addr unless it is blocked; usable as node.ClusterConfig.Dial.
func (f *Faults) Dial(network, addr string) (net.Conn, error) {
	d, blocked := f.check(addr)
	if blocked {
		f.mu.Lock()
		f.refused++
		f.mu.Unlock()
		return nil, errBlocked
	}
	time.Sleep(d)
	c, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.conns[c] = addr
	f.mu.Unlock()
	return &faultConn{Conn: c, f: f, addr: addr}, nil
}

type faultConn struct {
	net.Conn
	f    *Faults
	addr string
}

func (c *faultConn) Write(p []byte) (int, error) {
	d, blocked := c.f.check(c.addr)
	if blocked {
		c.Conn.Close()
		return 0, errBlocked
	}
	if d > 0 {
		time.Sleep(d)
	}
	c.f.mu.Lock()
	holed := c.f.holed[c.addr]
	c.f.mu.Unlock()
	if holed {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *faultConn) Close() error {
	c.f.mu.Lock()
	delete(c.f.conns, c.Conn)
	c.f.mu.Unlock()
	return c.Conn.Close()
}

// Transport wraps a memberlist transport so that gossip to blocked addresses is dropped.
func (f *Faults) Transport(inner memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
	return &faultTransport{NodeAwareTransport: inner, f: f}
}

type faultTransport struct {
	memberlist.NodeAwareTransport
	f *Faults
}

func (t *faultTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *faultTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	d, blocked := t.f.check(a.Addr)
	if blocked {
		return time.Now(), nil // a lost datagram
	}
	if d > 0 {
		time.Sleep(d)
	}
	return t.NodeAwareTransport.WriteToAddress(b, a)
}

func (t *faultTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *faultTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if _, blocked := t.f.check(a.Addr); blocked {
		return nil, errBlocked
	}
	return t.NodeAwareTransport.DialAddressTimeout(a, timeout)
}
