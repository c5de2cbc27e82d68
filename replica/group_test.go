package replica

import (
	"errors"
	"testing"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/quorum"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// A group sends each backup one copy with every op of its partitions, and each write's
// outcome follows its own partition's replication.
func TestGroupReplicatesItsWritesTogether(t *testing.T) {
	// Partition 0 on n1, n0, n2; partition 1 on n1, n2 (one backup: its failure fails it).
	r := newRig(t, "n1", quorum.AcksAll, 0, nil, []string{"n1", "n0", "n2"}, []string{"n1", "n2"})
	g := &Group{}
	missErr := sessions.ErrNoSession
	if g.Add(0, 0, sessions.Result{}, missErr, "") {
		t.Fatal("a command that wrote nothing joined the group")
	}
	w := func(n int) sessions.Result { return sessions.Result{Int: int64(n), Ops: ops(n)} }
	for _, a := range []struct{ i, p, n int }{{1, 0, 1}, {2, 1, 2}, {3, 0, 2}} {
		if !g.Add(a.i, a.p, w(a.n), nil, "") {
			t.Fatalf("write %d left out", a.i)
		}
	}
	if g.Writes() != 3 {
		t.Fatalf("Writes = %d", g.Writes())
	}
	f := r.StartGroup(r.view, g)
	perAddr := map[string]int{}
	for _, c := range r.sender.calls {
		perAddr[c.addr] += len(c.req.(*wire.OpsMsg).Ops)
	}
	// n0 holds partition 0 only (3 ops); n2 both (5 ops), each in one message.
	if len(r.sender.calls) != 2 || perAddr["addr-n0"] != 3 || perAddr["addr-n2"] != 5 {
		t.Fatalf("copies sent: %d messages, ops per backup %v", len(r.sender.calls), perAddr)
	}
	for _, c := range r.sender.calls {
		var err error
		if c.addr == "addr-n2" {
			err = errors.New("lost")
		}
		c.done(err)
	}
	f.Wait(ctxT(t))
	out := make([]api.Outcome, 4)
	g.Finish(out)
	for i, o := range out[1:] {
		if !errors.Is(o.Err, api.ErrTryAgain) || o.Result.Ops != nil {
			t.Fatalf("write %d with its copy lost on n2 (write-acks all): %+v", i+1, o)
		}
	}
	if out[0].Err != nil || out[0].Result.Int != 0 {
		t.Fatal("Finish touched a command that wrote nothing")
	}
	if (&Group{}).Writes() != 0 || r.StartGroup(r.view, &Group{}) != nil {
		t.Fatal("an empty group started a flight")
	}
}

func TestOutcome(t *testing.T) {
	res := sessions.Result{Int: 1, Ops: ops(2)}
	failed := errors.New("replication failed")
	if got, err := Outcome(res, nil, nil, ""); err != nil || got.Int != 1 || got.Ops != nil {
		t.Fatalf("replicated, no carrier: %+v %v", got, err)
	}
	if got, err := Outcome(res, nil, nil, "n2"); err != nil || len(got.Ops) != 2 {
		t.Fatalf("replicated, to a carrier: %+v %v", got, err)
	}
	if got, err := Outcome(res, nil, failed, "n2"); err != failed || got.Int != 0 || len(got.Ops) != 2 {
		t.Fatalf("failed, to a carrier: %+v %v (the carrier applies the ops even so)", got, err)
	}
}

func TestCarrier(t *testing.T) {
	r := newRig(t, "n1", quorum.AcksMajority, 0, nil, []string{"n1", "n0", "n2"})
	for via, want := range map[string]string{"": "", "n1": "", "n0": "n0", "n2": "n2", "n9": ""} {
		if got := Carrier(r.view, 0, "n1", via); got != want {
			t.Errorf("Carrier(via %q) = %q, want %q", via, got, want)
		}
	}
}
