package node

import (
	"context"
	"time"

	"github.com/sessiongate/sessiongate/ring"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// Ring and Ready make a view a mover.View, with Addr.
func (v *view) Ring() *ring.Ring            { return v.ring }
func (v *view) Ready(p int) <-chan struct{} { return v.ready[p] }

// peers is how the mover reaches other members: over the replication client.
type peers struct{ c *cluster }

func (p peers) Pull(ctx context.Context, addr string, slot int) ([]sessions.Op, error) {
	var resp wire.OpsMsg
	err := p.c.client.Call(ctx, addr, wire.Pull, wire.PullMsg{Slot: slot}, &resp)
	return resp.Ops, err
}

func (p peers) Push(ctx context.Context, addr string, ops []sessions.Op) error {
	return p.c.client.Call(ctx, addr, wire.Apply, &wire.OpsMsg{Ops: ops}, nil)
}

func (p peers) Digests(ctx context.Context, addr string, slots []uint16) ([]uint64, error) {
	var resp wire.DigestMsg
	err := p.c.client.Call(ctx, addr, wire.Digest, wire.DigestMsg{Slots: slots}, &resp)
	return resp.Digests, err
}

// every runs fn every d until the cluster stops. Each background duty gets its own clock, so a
// slow anti-entropy round cannot delay a drop or a re-join.
func (c *cluster) every(d time.Duration, fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-c.life.Done():
				return
			case <-t.C:
			}
			fn()
		}
	}()
}

func (p peers) Fetch(ctx context.Context, addr string, id sessions.ID) ([]sessions.Op, error) {
	var resp wire.OpsMsg
	err := p.c.client.Call(ctx, addr, wire.Fetch, wire.FetchMsg{ID: id}, &resp)
	return resp.Ops, err
}
