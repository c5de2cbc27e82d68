package membership

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/memberlist"
)

// keyring makes memberlist encrypt gossip with keys derived from the cluster secrets and
// refuse what none of them opens. It starts encrypting with the newest secret; see
// joinAny and UseSharedKey for how it changes while a cluster moves to a new secret.
func (m *Membership) keyring() (*memberlist.Keyring, error) {
	if len(m.cfg.Keys) == 0 {
		return nil, nil
	}
	if m.cfg.Transition {
		return memberlist.NewKeyring(nil, nil) // empty: gossip in clear until UseSharedKey
	}
	var keys [][]byte
	for _, k := range m.cfg.Keys {
		keys = append(keys, k.Gossip())
	}
	return memberlist.NewKeyring(keys, keys[0])
}

// keyIDs are the ids of the secrets this member holds, gossiped in its metadata so that
// the others know when every one of them holds a new secret.
func (m *Membership) keyIDs() [][]byte {
	var ids [][]byte
	for _, k := range m.cfg.Keys {
		id := k.ID()
		ids = append(ids, id[:])
	}
	return ids
}

// GossipKey is the key gossip is encrypted with now; nil while it goes in clear.
func (m *Membership) GossipKey() []byte {
	if m.kr == nil {
		return nil
	}
	return m.kr.GetPrimaryKey()
}

// PlainTo reports whether the member at a replication address holds no cluster secret, so
// that under Transition it is dialled without a handshake (replication.Security.PlainTo).
func (m *Membership) PlainTo(repl string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, p := range m.peers {
		if p.Repl == repl {
			return len(m.keysOf[name]) == 0
		}
	}
	return false
}

// joinAny joins addrs; a member that holds several secrets and reaches nobody tries again
// encrypting with each older one, since a cluster not yet moved to the newest secret cannot
// read it. It never changes the key of a member that has others already. ctx is checked
// between attempts.
func (m *Membership) joinAny(ctx context.Context, addrs []string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := m.ml.Join(addrs)
	kr := m.kr
	if n == 0 && err != nil && m.cfg.Transition && kr != nil && len(kr.GetKeys()) == 0 &&
		strings.Contains(err.Error(), "remote state is encrypted") && ctx.Err() == nil {
		// The members encrypt already, so each of them holds the secret: so does this node.
		m.installKeys(kr, "the members encrypt gossip already: joining encrypted")
		return m.ml.Join(addrs)
	}
	if n > 0 || kr == nil || len(m.cfg.Keys) < 2 || m.cfg.Transition || m.peerCount() > 0 {
		return n, err
	}
	cur := kr.GetPrimaryKey()
	for _, k := range m.cfg.Keys {
		if bytes.Equal(k.Gossip(), cur) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		kr.UseKey(k.Gossip())
		if n, err = m.ml.Join(addrs); n > 0 {
			m.log.Info("joined with an older cluster secret; the newest is used once every member holds it")
			return n, err
		}
	}
	kr.UseKey(cur)
	return n, err
}

// installKeys ends a transition's gossip in clear: from now on it is encrypted, the newest
// secret first.
func (m *Membership) installKeys(kr *memberlist.Keyring, why string) {
	for _, k := range m.cfg.Keys {
		kr.AddKey(k.Gossip())
	}
	m.log.Info(why)
}

func (m *Membership) peerCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.peers)
}

// UseSharedKey encrypts gossip with the newest secret that every member holds: while a
// rolling restart adds a new secret, members holding it keep using the old one until the
// last member has it too. Every member can read both meanwhile. Under Transition, gossip
// stays in clear until every member holds a secret of this one's. Call it after joining
// and when the member list changed.
func (m *Membership) UseSharedKey() {
	kr := m.kr
	if kr == nil || len(m.cfg.Keys) < 2 && !m.cfg.Transition {
		return
	}
	m.mu.Lock()
	held := make([][][]byte, 0, len(m.keysOf))
	for _, ids := range m.keysOf {
		held = append(held, ids)
	}
	m.mu.Unlock()
	if m.cfg.Transition && len(held) == 0 {
		return // not joined yet: the members may hold no secret
	}
	for _, k := range m.cfg.Keys {
		id := k.ID()
		all := true
		for _, ids := range held {
			all = all && slices.ContainsFunc(ids, func(b []byte) bool { return bytes.Equal(b, id[:]) })
		}
		if !all {
			continue
		}
		if len(kr.GetKeys()) == 0 {
			m.installKeys(kr, "every member holds the cluster secret: gossip is encrypted from now on")
		}
		if g := k.Gossip(); !bytes.Equal(kr.GetPrimaryKey(), g) {
			kr.UseKey(g)
			m.log.Info("gossip encrypted with the newest cluster secret every member holds", "key", fmt.Sprintf("%x", id))
		}
		return
	}
}
