package membership

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/ratelog"
)

// FastGossip tunes memberlist to declare a silent node dead in about a second or two, for
// tests and small, quiet networks. It trades more gossip traffic and more false suspicion
// under load for faster fail-over.
func FastGossip(mc *memberlist.Config) {
	mc.ProbeInterval = 200 * time.Millisecond
	mc.ProbeTimeout = 100 * time.Millisecond
	mc.SuspicionMult = 2
	mc.SuspicionMaxTimeoutMult = 2
	mc.GossipInterval = 50 * time.Millisecond
	mc.PushPullInterval = 2 * time.Second
	mc.GossipToTheDeadTime = 5 * time.Second
	mc.TCPTimeout = time.Second
	mc.DeadNodeReclaimTime = time.Second
}

func (m *Membership) memberlistConfig() (*memberlist.Config, error) {
	mc := memberlist.DefaultLANConfig()
	mc.Name = m.cfg.Name
	host, port, err := net.SplitHostPort(m.cfg.BindAddr)
	if err != nil {
		return nil, err
	}
	mc.BindAddr = host
	mc.BindPort, _ = strconv.Atoi(port)
	ahost, aport, err := net.SplitHostPort(m.cfg.Advertise)
	if err != nil {
		return nil, err
	}
	mc.AdvertiseAddr = ahost
	mc.AdvertisePort, _ = strconv.Atoi(aport)
	if m.kr, err = m.keyring(); err != nil {
		return nil, fmt.Errorf("gossip keys: %w", err)
	}
	mc.Keyring = m.kr
	if m.cfg.Transition {
		mc.GossipVerifyIncoming = false // members without the secret still gossip in clear
	}
	d := delegate{m}
	mc.Delegate = d
	mc.Events = d
	mc.Merge = d
	mc.Alive = d
	mc.LogOutput = slogWriter{log: m.log, refusals: &ratelog.Limiter{}}
	if m.cfg.Memberlist != nil {
		m.cfg.Memberlist(mc)
	}
	return mc, nil
}

// meta is what a member gossips about itself.
type meta struct {
	Repl       string `msgpack:"r"`
	RESP       string `msgpack:"c"`
	Partitions int    `msgpack:"p"`
	// Keys are the ids of the cluster secrets the member holds (secret rotation).
	Keys [][]byte `msgpack:"k,omitempty"`
	// Stale is Config.StaleUntil's answer.
	Stale int64 `msgpack:"s,omitempty"`
}

// delegate adapts the Membership to memberlist's callbacks.
type delegate struct{ m *Membership }

func (d delegate) NodeMeta(limit int) []byte {
	c := d.m.cfg
	md := meta{Repl: c.Repl, RESP: c.RESP, Partitions: c.Partitions, Keys: d.m.keyIDs()}
	if c.StaleUntil != nil {
		md.Stale = c.StaleUntil()
	}
	b, _ := msgpack.Marshal(md)
	if len(b) > limit {
		return nil
	}
	return b
}
func (d delegate) NotifyMsg([]byte)                           {}
func (d delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d delegate) LocalState(join bool) []byte                { return nil }
func (d delegate) MergeRemoteState(buf []byte, join bool)     {}

func (d delegate) NotifyJoin(n *memberlist.Node) {
	d.m.log.Info("member joined", "node", n.Name, "addr", n.Address())
	d.m.remember(n)
	d.m.changed()
}
func (d delegate) NotifyLeave(n *memberlist.Node) {
	d.m.log.Warn("member left or failed", "node", n.Name, "addr", n.Address())
	d.m.forget(n)
	d.m.changed()
}
func (d delegate) NotifyUpdate(n *memberlist.Node) {
	d.m.remember(n)
	d.m.changed()
}

// NotifyMerge refuses to merge with a cluster whose partition count differs: every node must
// map slots to the same partitions.
func (d delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := d.m.compatible(p); err != nil {
			d.m.log.Error("refusing to join", "err", err)
			d.m.joinErr.Store(&err)
			return err
		}
	}
	return nil
}

// NotifyAlive keeps an incompatible node out of our member list.
func (d delegate) NotifyAlive(p *memberlist.Node) error { return d.m.compatible(p) }

func (m *Membership) compatible(p *memberlist.Node) error {
	if p.Name == m.cfg.Name {
		return nil
	}
	var md meta
	if err := msgpack.Unmarshal(p.Meta, &md); err != nil {
		return fmt.Errorf("%w: node %s sent unreadable metadata", ErrIncompatible, p.Name)
	}
	if md.Partitions != m.cfg.Partitions {
		return fmt.Errorf("%w: node %s has %d partitions, this node %d (--partitions is fixed for a cluster's life)",
			ErrIncompatible, p.Name, md.Partitions, m.cfg.Partitions)
	}
	return nil
}

// remember records a member from inside a memberlist callback, where reading n is safe.
func (m *Membership) remember(n *memberlist.Node) {
	if n.Name == m.cfg.Name {
		return
	}
	addr := n.Address()
	var md meta
	ok := msgpack.Unmarshal(n.Meta, &md) == nil && md.Partitions == m.cfg.Partitions
	m.mu.Lock()
	m.known[n.Name] = addr
	m.keysOf[n.Name] = md.Keys
	p := Member{Name: n.Name, Gossip: addr, Repl: md.Repl, RESP: md.RESP, State: stateName(n.State), StaleUntil: md.Stale}
	if ok && m.admit(p) {
		m.peers[n.Name] = p
	} else {
		delete(m.peers, n.Name)
	}
	m.mu.Unlock()
}

// forget drops a member memberlist declared dead or gone, from inside its callback.
func (m *Membership) forget(n *memberlist.Node) {
	m.mu.Lock()
	delete(m.peers, n.Name)
	delete(m.keysOf, n.Name)
	delete(m.verified, n.Name)
	delete(m.unverified, n.Name)
	m.mu.Unlock()
}

func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	}
	return "left"
}

// slogWriter routes memberlist's log lines into slog at debug level (they are chatty),
// except those that say a stranger's gossip was refused: those are warnings, rate-limited.
type slogWriter struct {
	log      *slog.Logger
	refusals *ratelog.Limiter
}

func (w slogWriter) Write(p []byte) (int, error) {
	msg := string(trimNL(p))
	stranger := strings.Contains(msg, "Decrypt packet failed") || strings.Contains(msg, "remote state is not encrypted") ||
		strings.Contains(msg, "remote state is encrypted and encryption is not configured")
	if stranger && !strings.Contains(msg, "failed to join") { // a join of ours is not a stranger's gossip
		w.refusals.Warn(w.log, "gossip refused: not encrypted with a cluster secret this node holds", "memberlist", msg)
		return len(p), nil
	}
	w.log.Debug("memberlist", "msg", msg)
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
