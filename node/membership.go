package node

import (
	"context"

	"github.com/sessiongate/sessiongate/membership"
)

// startGossip makes this node a member of the cluster's gossip (package membership). Member
// list changes rebuild the view; under peer TLS without a secret, a member counts only once
// its replication port has shown a certificate of the cluster's CA under its own name.
func (c *cluster) startGossip() (*membership.Membership, error) {
	cfg := c.cfg
	mc := membership.Config{
		Name: cfg.Name, BindAddr: cfg.BindAddr, Advertise: cfg.Advertise,
		Repl: cfg.ReplAdvertise, RESP: cfg.RESPAddr, Partitions: cfg.Partitions,
		Join: cfg.Join, RejoinInterval: cfg.RejoinInterval,
		Keys: cfg.Keys, Transition: cfg.Transition,
		OnChange: c.membershipChanged, Leaving: c.leaving.Load, StaleUntil: c.n.staleUntil.Load,
		Memberlist: cfg.Memberlist, Logger: c.log,
	}
	if c.verifying() {
		mc.Identify = func(ctx context.Context, repl string) (string, error) {
			ctx, cancel := context.WithTimeout(ctx, cfg.RPCTimeout)
			defer cancel()
			return c.client.Identify(ctx, repl)
		}
	}
	ml, err := membership.Create(c.life, mc)
	if err != nil {
		return nil, err
	}
	c.gossip.Store(ml)
	return ml, nil
}
