package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/hashicorp/memberlist"

	"github.com/sessiongate/sessiongate/replication"
)

// PeerTLS is mutual TLS between members, for operators with their own PKI: each side presents
// a certificate the other's CA pool verifies.
type PeerTLS struct {
	// Server is used for accepted replication links; it must require and verify client
	// certificates.
	Server *tls.Config
	// Client is used for dialled replication links; it must hold this node's certificate.
	Client *tls.Config
}

// ErrInsecure is returned by Create for a cluster that anyone on the network could join:
// no secret and no TLS, on an address that is not loopback, without Insecure.
var ErrInsecure = errors.New("cluster: refusing to run without a cluster secret or peer TLS on a non-loopback address")

// checkProtected is protected mode, as Redis's: a node without a way to tell members from
// strangers only runs where strangers cannot reach it, unless told otherwise.
func (c *ClusterConfig) checkProtected() (warn bool, err error) {
	if len(c.Keys) > 0 || c.PeerTLS != nil {
		return false, nil
	}
	if c.Insecure {
		return true, nil
	}
	for _, a := range []string{c.BindAddr, c.ReplAddr} {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return false, fmt.Errorf("cluster: bad address %q: %w", a, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false, fmt.Errorf("%w (%s); give a cluster secret (--cluster-secret-file), peer TLS, or --insecure-cluster", ErrInsecure, a)
		}
	}
	return true, nil
}

// security is what the replication links of this node prove and expect.
func (c *cluster) security() *replication.Security {
	s := &replication.Security{Name: c.cfg.Name, Keys: c.cfg.Keys}
	if c.cfg.Transition {
		s.AcceptInsecure, s.PlainTo = true, c.plainTo
	}
	if c.cfg.PeerTLS != nil {
		s.ServerTLS, s.ClientTLS = c.cfg.PeerTLS.Server, c.cfg.PeerTLS.Client
	}
	return s
}

// keyring makes memberlist encrypt gossip with keys derived from the cluster secrets and
// refuse what none of them opens. It starts encrypting with the newest secret; see
// joinAny and useSharedKey for how it changes while a cluster moves to a new secret.
func (c *cluster) keyring() (*memberlist.Keyring, error) {
	if len(c.cfg.Keys) == 0 {
		return nil, nil
	}
	if c.cfg.Transition {
		return memberlist.NewKeyring(nil, nil) // empty: gossip in clear until useSharedKey
	}
	var keys [][]byte
	for _, k := range c.cfg.Keys {
		keys = append(keys, k.Gossip())
	}
	return memberlist.NewKeyring(keys, keys[0])
}

// plainTo reports whether the member at a replication address holds no cluster secret, so
// that under Transition it is dialled without a handshake.
func (c *cluster) plainTo(addr string) bool {
	c.knownMu.Lock()
	defer c.knownMu.Unlock()
	for name, m := range c.peers {
		if m.Repl == addr {
			return len(c.keysOf[name]) == 0
		}
	}
	return false
}

// keyIDs are the ids of the secrets this node holds, gossiped in its metadata so that
// members know when every one of them holds a new secret.
func (c *cluster) keyIDs() [][]byte {
	var ids [][]byte
	for _, k := range c.cfg.Keys {
		id := k.ID()
		ids = append(ids, id[:])
	}
	return ids
}

// joinAny joins addrs; a node that holds several secrets and reaches nobody tries again
// encrypting with each older one, since a cluster not yet moved to the newest secret cannot
// read it. It never changes the key of a node that has members already.
func (c *cluster) joinAny(addrs []string) (int, error) {
	n, err := c.ml.Join(addrs)
	kr := c.kr
	if n == 0 && err != nil && c.cfg.Transition && kr != nil && len(kr.GetKeys()) == 0 &&
		strings.Contains(err.Error(), "remote state is encrypted") {
		// The members encrypt already, so each of them holds the secret: so does this node.
		c.installKeys(kr, "the members encrypt gossip already: joining encrypted")
		return c.ml.Join(addrs)
	}
	if n > 0 || kr == nil || len(c.cfg.Keys) < 2 || c.cfg.Transition || c.peerCount() > 0 {
		return n, err
	}
	cur := kr.GetPrimaryKey()
	for _, k := range c.cfg.Keys {
		if bytes.Equal(k.Gossip(), cur) {
			continue
		}
		kr.UseKey(k.Gossip())
		if n, err = c.ml.Join(addrs); n > 0 {
			c.log.Info("joined with an older cluster secret; the newest is used once every member holds it")
			return n, err
		}
	}
	kr.UseKey(cur)
	return n, err
}

// installKeys ends a transition's gossip in clear: from now on it is encrypted, the newest
// secret first.
func (c *cluster) installKeys(kr *memberlist.Keyring, why string) {
	for _, k := range c.cfg.Keys {
		kr.AddKey(k.Gossip())
	}
	c.log.Info(why)
}

func (c *cluster) peerCount() int {
	c.knownMu.Lock()
	defer c.knownMu.Unlock()
	return len(c.peers)
}

// useSharedKey encrypts gossip with the newest secret that every member holds: while a
// rolling restart adds a new secret, members holding it keep using the old one until the
// last member has it too. Every member can read both meanwhile. Under Transition, gossip
// stays in clear until every member holds a secret of this node's.
func (c *cluster) useSharedKey() {
	kr := c.kr
	if kr == nil || len(c.cfg.Keys) < 2 && !c.cfg.Transition {
		return
	}
	c.knownMu.Lock()
	held := make([][][]byte, 0, len(c.keysOf))
	for _, ids := range c.keysOf {
		held = append(held, ids)
	}
	c.knownMu.Unlock()
	if c.cfg.Transition && len(held) == 0 {
		return // not joined yet: the members may hold no secret
	}
	for _, k := range c.cfg.Keys {
		id := k.ID()
		all := true
		for _, ids := range held {
			all = all && slices.ContainsFunc(ids, func(b []byte) bool { return bytes.Equal(b, id[:]) })
		}
		if !all {
			continue
		}
		if len(kr.GetKeys()) == 0 {
			c.installKeys(kr, "every member holds the cluster secret: gossip is encrypted from now on")
		}
		if g := k.Gossip(); !bytes.Equal(kr.GetPrimaryKey(), g) {
			kr.UseKey(g)
			c.log.Info("gossip encrypted with the newest cluster secret every member holds", "key", fmt.Sprintf("%x", id))
		}
		return
	}
}

// verifying reports whether members must prove themselves on the replication port before
// they count: with peer TLS and no secret, gossip itself is not authenticated.
func (c *cluster) verifying() bool { return c.cfg.PeerTLS != nil && len(c.cfg.Keys) == 0 }

// admit decides, inside a memberlist callback, whether a member counts now. Under
// verifying, one that has not yet shown on its replication port a certificate of the
// cluster's CA, under its own name, waits outside the view while that is checked.
// Caller holds knownMu.
func (c *cluster) admit(m memberInfo) bool {
	if !c.verifying() || c.verified[m.Name] == m.Repl {
		return true
	}
	c.unverified[m.Name] = m
	if !c.checking[m.Name] {
		c.checking[m.Name] = true
		go c.verify(m)
	}
	return false
}

// verify connects to a member's replication address and checks that the certificate holder
// there answers with the member's name; only then does the member enter the view.
func (c *cluster) verify(m memberInfo) {
	ctx, cancel := context.WithTimeout(c.life, c.cfg.RPCTimeout)
	name, err := c.client.Identify(ctx, m.Repl)
	cancel()
	c.knownMu.Lock()
	delete(c.checking, m.Name)
	cur, waiting := c.unverified[m.Name]
	ok := err == nil && name == m.Name && waiting && cur.Repl == m.Repl
	if ok {
		c.verified[m.Name] = m.Repl
		delete(c.unverified, m.Name)
		c.peers[m.Name] = cur
	}
	c.knownMu.Unlock()
	switch {
	case ok:
		c.log.Info("member verified on its replication port", "node", m.Name, "repl", m.Repl)
		c.membershipChanged()
	case err != nil:
		c.log.Warn("gossip member not admitted: its replication port did not authenticate", "node", m.Name, "repl", m.Repl, "err", err)
	case name != m.Name:
		c.log.Warn("gossip member not admitted: its replication port belongs to another node", "node", m.Name, "repl", m.Repl, "answered", name)
	}
}

// reverify retries members still waiting to be verified (rejoin calls it).
func (c *cluster) reverify() {
	if !c.verifying() {
		return
	}
	c.knownMu.Lock()
	for name, m := range c.unverified {
		if !c.checking[name] {
			c.checking[name] = true
			go c.verify(m)
		}
	}
	c.knownMu.Unlock()
}
