package node

import (
	"context"
	"errors"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/replica"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/view"
	"github.com/sessiongate/sessiongate/wire"
)

// maxHops bounds forwarding when two nodes' views disagree about a primary.
const maxHops = 3

// repairWindow is how long after a view change a miss on a primary asks the other replicas
// before answering "does not exist": writes still in flight from the previous primary may
// not have reached this node yet.
const repairWindow = 2 * time.Minute

func (c *cluster) do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	if o, ok := c.readNow(ctx, cmd, time.Now()); ok {
		return o.Result, o.Err // waits on nothing: no deadline to set up
	}
	// Bound every wait a command may make here: forwarding, acks, a partition hand-over.
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	if cmd.Kind.IsScatter() {
		return c.scatter(ctx, cmd)
	}
	return c.route(ctx, cmd, 0, "")
}

// route runs cmd on its partition's primary: here, or by forwarding. hops and via say how it
// came here: hops forwards so far, via the node that took it from the client, when that node
// forwarded it straight here (see replica.Carrier).
func (c *cluster) route(ctx context.Context, cmd *sessions.Command, hops int, via string) (sessions.Result, error) {
	return c.routeAfter(ctx, cmd, hops, via, "")
}

// routeAfter is route for a command already sent once, to the primary lost ("" if none),
// whose connection broke before it answered (see retried).
func (c *cluster) routeAfter(ctx context.Context, cmd *sessions.Command, hops int, via, lost string) (sessions.Result, error) {
	slot := cmd.Slot()
	for {
		v := c.views.Load()
		p, primary := v.PrimaryOf(slot)
		var res sessions.Result
		var err error
		if primary == c.cfg.Name {
			res, err = c.execute(ctx, v, p, cmd, via)
			return retried(res, err, cmd, lost)
		}
		if res, ok := c.copyRead(v, p, primary, cmd, time.Now()); ok {
			return res, nil
		}
		if hops >= maxHops {
			return sessions.Result{}, api.TryAgainf("partition %d is changing owner", p)
		}
		c.n.stats.Forwarded.Add(1)
		res, err = c.forward(ctx, primary, v.Repl(primary), cmd, hops+1)
		if !errors.Is(err, replication.ErrUnavailable) {
			return retried(res, err, cmd, lost)
		}
		if errors.Is(err, replication.ErrConnLost) {
			lost = primary
		}
		if cmd.Kind.Traits().Once {
			return sessions.Result{}, api.TryAgainf("primary %s of partition %d unreachable; outcome unknown", primary, p)
		}
		// The primary is unreachable: wait for failure detection to move the partition.
		if !c.waitNewView(ctx, v) {
			return sessions.Result{}, api.TryAgainf("primary %s of partition %d unreachable", primary, p)
		}
	}
}

// retried is a command's outcome once it may have run twice: when an earlier attempt went to
// a primary that was lost before it answered (lost), that attempt may have done what the
// retry then finds done. A write told "does not exist" (an END whose first attempt ended the
// session, a PDEL whose first attempt deleted the payload) would deny its own effect, so its
// outcome is unknown instead; any other answer stands.
func retried(res sessions.Result, err error, cmd *sessions.Command, lost string) (sessions.Result, error) {
	if lost == "" || cmd.Kind.Traits().Read || !(errors.Is(err, sessions.ErrNoSession) || errors.Is(err, sessions.ErrNoPayload)) {
		return res, err
	}
	return sessions.Result{}, api.TryAgainf("the connection to %s broke after the command was sent, and the retry found nothing to change; outcome unknown", lost)
}

// waitNewView waits until the view changes or ctx is done.
func (c *cluster) waitNewView(ctx context.Context, v *view.View) bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-c.life.Done():
			return false
		case <-t.C:
			if c.views.Load().Ring() != v.Ring() {
				return true
			}
		}
	}
}

// execute runs cmd here as primary of partition p and replicates what it changed. When via
// is a backup of p, the result keeps its ops for via to apply (see replica.Carrier); otherwise it has none.
func (c *cluster) execute(ctx context.Context, v *view.View, p int, cmd *sessions.Command, via string) (sessions.Result, error) {
	if c.checkStall() {
		// Frozen until a moment ago: others may have served this partition meanwhile.
		return sessions.Result{}, api.TryAgainf("partition %d: this node was stalled and is re-syncing", p)
	}
	select {
	case <-v.Ready(p):
	case <-ctx.Done():
		select {
		case <-v.Ready(p): // ready too: the command is what ran out of time (below)
		default:
			return sessions.Result{}, api.TryAgainf("partition %d is still being handed over", p)
		}
	}
	if cmd.Kind == sessions.KindRotate && time.Since(v.Since()) < repairWindow {
		// ROTATE copies what it finds and ends the old id. Right after a view change a former
		// primary may still hold a newer write (its hand-off push comes HandoffDelay later);
		// a copy made without it would lose it for good, so ask every member first.
		c.mover.ReadRepair(ctx, v, v.Names(), cmd.ID)
	}
	if ctx.Err() != nil {
		// Whoever sent it has stopped waiting (see refused): run now, it could land after
		// writes acknowledged since.
		return sessions.Result{}, api.TryAgainf("partition %d: command timed out before it ran", p)
	}
	res, err := c.runStore(ctx, v, p, cmd)
	if len(res.Ops) == 0 {
		return res, err
	}
	carrier := c.carrier(v, p, via)
	return replica.Outcome(res, err, c.repl.Replicate(ctx, v, p, res.Ops, carrier), carrier)
}

// runStore runs cmd on the store as primary of p; a miss just after a view change first asks
// the other replicas, whose writes may still be on their way here.
func (c *cluster) runStore(ctx context.Context, v *view.View, p int, cmd *sessions.Command) (sessions.Result, error) {
	if err := c.n.diskRefuses(cmd); err != nil {
		return sessions.Result{}, err
	}
	res, err := c.n.store.Do(cmd)
	if (errors.Is(err, sessions.ErrNoSession) || errors.Is(err, sessions.ErrNoPayload)) &&
		cmd.Kind != sessions.KindStart && !cmd.Kind.IsOwnerScoped() &&
		time.Since(v.Since()) < repairWindow && !c.n.store.Ended(cmd.ID) {
		applied, complete := c.mover.ReadRepair(ctx, v, v.Ring().Replicas(p), cmd.ID)
		if applied {
			res, err = c.n.store.Do(cmd)
		}
		if !complete && (errors.Is(err, sessions.ErrNoSession) || errors.Is(err, sessions.ErrNoPayload)) {
			// A replica that did not answer may hold the session: "does not exist" could
			// be a lie, and the caller could act on it (log the user out, start afresh).
			return sessions.Result{}, api.TryAgainf("partition %d: a replica did not answer; cannot tell whether the session exists", p)
		}
	}
	c.n.stats.Commands.Add(1)
	return res, err
}

// isPrimaryForSlot tells the expiry sweep whether this node may end idle sessions of a slot.
func (c *cluster) isPrimaryForSlot(slot int) bool {
	v := c.views.Load()
	_, primary := v.PrimaryOf(slot)
	return primary == c.cfg.Name
}

// forward runs cmd on primary, at addr. From the node that took it from the client (hops 1)
// it goes with this node's name, so that a write comes back with its ops (see replica.Carrier).
func (c *cluster) forward(ctx context.Context, primary, addr string, cmd *sessions.Command, hops int) (sessions.Result, error) {
	if !cmd.Settle() {
		return sessions.Result{}, sessions.ErrSignature
	}
	req := wire.CommandMsg{Cmd: *cmd, Hops: hops, Deadline: deadlineOf(ctx)}
	if hops == 1 {
		req.Via = c.cfg.Name
	}
	resp, err := c.client.Forward(ctx, addr, &req)
	if err != nil {
		if req.Via != "" {
			c.repl.Missed(primary)
		}
		if errors.Is(err, replication.ErrUnavailable) {
			return sessions.Result{}, err
		}
		return sessions.Result{}, api.TryAgainf("forwarding to %s: %v", addr, err)
	}
	if err := c.applyCarried(ctx, resp.Ops); err != nil {
		return sessions.Result{}, err
	}
	return resp.Result, resp.Err()
}
