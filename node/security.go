package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

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

// plainTo is PlainTo under Transition: whether the member at a replication address holds no
// cluster secret, so that it is dialled without a handshake. Membership may verify a member,
// and so dial, before startGossip has returned: no member is known until then.
func (c *cluster) plainTo(addr string) bool {
	ml := c.gossip.Load()
	return ml != nil && ml.PlainTo(addr)
}

// verifying reports whether members must prove themselves on the replication port before
// they count: with peer TLS and no secret, gossip itself is not authenticated.
func (c *cluster) verifying() bool { return c.cfg.PeerTLS != nil && len(c.cfg.Keys) == 0 }
