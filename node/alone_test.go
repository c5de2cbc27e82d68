package node

import (
	"context"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
)

// A node alone runs a batch in order on the caller's goroutine, its commands sharing clock
// readings (the store reads its own clock for none of them), and leaves the caller's commands
// as they were.
func TestAloneBatchSharesClockReadings(t *testing.T) {
	var storeReads atomic.Int64
	n, err := Create(Config{Store: sessions.Config{Now: func() time.Time { storeReads.Add(1); return time.Now() }}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	ctx := context.Background()
	tenant := sessions.TenantOf([]byte("k"))
	id, err := sessions.NewID(rand.Reader, -1)
	if err != nil {
		t.Fatal(err)
	}
	cmds := []*sessions.Command{{Kind: sessions.KindStart, Tenant: tenant, ID: id, TTL: 60}}
	for i := 0; i < 2*clockEvery+1; i++ {
		cmds = append(cmds, &sessions.Command{Kind: sessions.KindPSet, Tenant: tenant, ID: id, Name: []byte("n"), Data: []byte{byte(i)}},
			&sessions.Command{Kind: sessions.KindPGet, Tenant: tenant, ID: id, Name: []byte("n")})
	}
	out := make([]api.Outcome, len(cmds))
	out[1].Err = errors.New("left over from an earlier batch")
	storeReads.Store(0)
	n.DoBatch(ctx, cmds, out)
	if got := storeReads.Load(); got != 0 {
		t.Errorf("the store read its own clock %d times", got)
	}
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("command %d: %v", i, o.Err)
		}
		if i > 0 && i%2 == 0 && o.Result.Data[0] != byte(i/2-1) {
			t.Fatalf("PGET %d read %v: the batch did not run in order", i, o.Result.Data)
		}
	}
	for i, cmd := range cmds {
		if cmd.At != 0 {
			t.Fatalf("command %d keeps the reading %d", i, cmd.At)
		}
	}
	if got := n.Counters().Commands; got != uint64(len(cmds)) {
		t.Errorf("%d commands counted, want %d", got, len(cmds))
	}
	n.Shutdown()
	n.DoBatch(ctx, cmds[:2], out)
	if !errors.Is(out[0].Err, api.ErrClosed) || !errors.Is(out[1].Err, api.ErrClosed) {
		t.Errorf("after shutdown: %v, %v", out[0].Err, out[1].Err)
	}
}
