package node

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/sessiongate/sessiongate/sessions"
)

// fixedChecker judges every signature alike and counts how often it was asked.
type fixedChecker struct {
	ok    bool
	calls atomic.Int32
}

func (c *fixedChecker) CheckMAC(sessions.ID, *sessions.MAC) bool { c.calls.Add(1); return c.ok }

// A command whose signature the front end left to the store is verified before it is
// forwarded (the primary trusts its peers), alone or in a batch: a bad one is refused here
// and never runs; a good one runs, verified once.
func TestForwardedCommandsAreVerifiedFirst(t *testing.T) {
	nodes := startCluster(t, 2)
	via := nodes[0]
	id := remoteID(t, via)
	if _, err := doRetry(t, via.n, sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: id, TTL: 600}); err != nil {
		t.Fatal(err)
	}
	set := func(v string, chk *fixedChecker) *sessions.Command {
		return &sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte(v), Check: chk}
	}
	bad, good := &fixedChecker{}, &fixedChecker{ok: true}
	if _, err := via.n.Do(ctxT(t), set("forged", bad)); !errors.Is(err, sessions.ErrSignature) || bad.calls.Load() != 1 {
		t.Fatalf("forged single command: %v (checker asked %d times)", err, bad.calls.Load())
	}
	if _, err := via.n.Do(ctxT(t), set("one", good)); err != nil || good.calls.Load() != 1 {
		t.Fatalf("good single command: %v (checker asked %d times)", err, good.calls.Load())
	}
	bad2, good2 := &fixedChecker{}, &fixedChecker{ok: true}
	get := &sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")}
	out := doBatch(ctxT(t), via.n, []*sessions.Command{set("forged", bad2), set("two", good2), get})
	if !errors.Is(out[0].Err, sessions.ErrSignature) || out[1].Err != nil || out[2].Err != nil {
		t.Fatalf("batch outcomes %+v", out)
	}
	if string(out[2].Result.Data) != "two" {
		t.Fatalf("read after the batch's writes = %q, want two (the forged write must not run)", out[2].Result.Data)
	}
}
