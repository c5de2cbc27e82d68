package replica

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/quorum"
)

// A write counts this node's own copy only once its disk says so: acknowledged backups are
// not enough, a failed disk fails the write, and a disk still writing at the deadline fails it.
func TestFlightWaitsForTheLocalDisk(t *testing.T) {
	r := newRig(t, "n1", quorum.AcksMajority, 0, nil, []string{"n1", "n0", "n2"})
	var disk func(error)
	r.cfg.Local = func(fn func(error)) { disk = fn }

	// Both backups acknowledge; the disk answers later.
	f := r.Start(r.view, []Part{{P: 0, Ops: ops(1)}})
	for _, c := range r.sender.calls {
		c.done(nil)
	}
	if f.Done() {
		t.Fatal("decided before the disk answered")
	}
	got := make(chan error, 1)
	f.WhenDone(ctxT(t), func() { got <- f.Err(0) })
	select {
	case err := <-got:
		t.Fatalf("decided before the disk answered: %v", err)
	default:
	}
	disk(nil)
	if err := <-got; err != nil {
		t.Fatalf("backups and disk acknowledged: %v", err)
	}

	// The disk fails: the write fails with its error, whatever the backups say.
	r.sender.calls = nil
	f = r.Start(r.view, []Part{{P: 0, Ops: ops(1)}})
	full := errors.New("MISCONF disk full")
	disk(full)
	for _, c := range r.sender.calls {
		c.done(nil)
	}
	f.Wait(ctxT(t))
	if f.Err(0) != full {
		t.Fatalf("a write whose disk failed: %v", f.Err(0))
	}

	// The disk is still writing when the deadline comes.
	r.sender.calls = nil
	f = r.Start(r.view, []Part{{P: 0, Ops: ops(1)}})
	for _, c := range r.sender.calls {
		c.done(nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	f.Wait(ctx)
	if err := f.Err(0); !errors.Is(err, api.ErrTryAgain) || !strings.Contains(err.Error(), "disk") {
		t.Fatalf("a write whose disk did not answer in time: %v", err)
	}

	// Without backups, the disk alone decides.
	alone := newRig(t, "n1", quorum.AcksMajority, 0, nil, []string{"n1"})
	alone.cfg.Local = func(fn func(error)) { fn(nil) }
	if f := alone.Start(alone.view, []Part{{P: 0, Ops: ops(1)}}); !f.Done() || f.Err(0) != nil {
		t.Fatalf("a lone write on a durable disk: done %v, %v", f.Done(), f.Err(0))
	}
}
