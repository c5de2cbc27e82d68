package node

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

// meta is what a node gossips about itself.
type meta struct {
	Repl       string `msgpack:"r"`
	RESP       string `msgpack:"c"`
	Partitions int    `msgpack:"p"`
	// Keys are the ids of the cluster secrets the node holds (secret rotation).
	Keys [][]byte `msgpack:"k,omitempty"`
}

// delegate adapts the cluster to memberlist's callbacks.
type delegate struct{ c *cluster }

func (d delegate) NodeMeta(limit int) []byte {
	b, _ := msgpack.Marshal(meta{Repl: d.c.cfg.ReplAdvertise, RESP: d.c.cfg.RESPAddr, Partitions: d.c.cfg.Partitions, Keys: d.c.keyIDs()})
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
	d.c.log.Info("member joined", "node", n.Name, "addr", n.Address())
	d.c.remember(n)
	d.c.membershipChanged()
}
func (d delegate) NotifyLeave(n *memberlist.Node) {
	d.c.log.Warn("member left or failed", "node", n.Name, "addr", n.Address())
	d.c.forget(n)
	d.c.membershipChanged()
}
func (d delegate) NotifyUpdate(n *memberlist.Node) {
	d.c.remember(n)
	d.c.membershipChanged()
}

// NotifyMerge refuses to merge with a cluster whose partition count differs: every node must
// map slots to the same partitions.
func (d delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := d.compatible(p); err != nil {
			d.c.log.Error("refusing to join", "err", err)
			d.c.joinErr.Store(&err)
			return err
		}
	}
	return nil
}

// NotifyAlive keeps an incompatible node out of our member list.
func (d delegate) NotifyAlive(p *memberlist.Node) error { return d.compatible(p) }

func (d delegate) compatible(p *memberlist.Node) error {
	if p.Name == d.c.cfg.Name {
		return nil
	}
	var m meta
	if err := msgpack.Unmarshal(p.Meta, &m); err != nil {
		return fmt.Errorf("%w: node %s sent unreadable metadata", ErrIncompatible, p.Name)
	}
	if m.Partitions != d.c.cfg.Partitions {
		return fmt.Errorf("%w: node %s has %d partitions, this node %d (--partitions is fixed for a cluster's life)",
			ErrIncompatible, p.Name, m.Partitions, d.c.cfg.Partitions)
	}
	return nil
}

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

func (c *cluster) memberlistConfig() (*memberlist.Config, error) {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.cfg.Name
	host, port, err := net.SplitHostPort(c.cfg.BindAddr)
	if err != nil {
		return nil, err
	}
	mc.BindAddr = host
	mc.BindPort, _ = strconv.Atoi(port)
	ahost, aport, err := net.SplitHostPort(c.cfg.Advertise)
	if err != nil {
		return nil, err
	}
	mc.AdvertiseAddr = ahost
	mc.AdvertisePort, _ = strconv.Atoi(aport)
	if c.kr, err = c.keyring(); err != nil {
		return nil, fmt.Errorf("cluster: gossip keys: %w", err)
	}
	mc.Keyring = c.kr
	if c.cfg.Transition {
		mc.GossipVerifyIncoming = false // members without the secret still gossip in clear
	}
	d := delegate{c}
	mc.Delegate = d
	mc.Events = d
	mc.Merge = d
	mc.Alive = d
	mc.LogOutput = slogWriter{log: c.log, refusals: &ratelog.Limiter{}}
	if c.cfg.Memberlist != nil {
		c.cfg.Memberlist(mc)
	}
	return mc, nil
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
