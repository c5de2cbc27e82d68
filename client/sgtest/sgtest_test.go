package sgtest

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestStartAndKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := Build(ctx, t.TempDir())
	if err != nil {
		t.Skipf("sessiongated does not build: %v", err)
	}
	n, err := Start(ctx, bin, "--requirepass", "pw") // NOAUTH counts as ready
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if !n.Alive() || !ping(ctx, n.Addr) {
		t.Fatal("started node is not serving")
	}
	if !strings.Contains(n.Log(), "ready") {
		t.Fatalf("log: %q", n.Log())
	}
	n.Kill()
	if n.Alive() || ping(ctx, n.Addr) {
		t.Fatal("killed node still serves")
	}

	if _, err := Start(ctx, bin, "--no-such-flag"); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("a node that cannot start: %v", err)
	}
}
