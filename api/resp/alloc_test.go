package resp

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/tidwall/redcon"

	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
)

// A PGET on a lone node allocates nothing from its parsed args to its written reply, through
// the path every pipeline takes: no command escapes to the heap, and signing does not either.
func TestPGETAllocatesNothing(t *testing.T) {
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	s := NewServer(Config{}, n)
	sg := sessions.NewSigner([]byte("k"))
	id, _ := sessions.NewID(bytes.NewReader(bytes.Repeat([]byte{7}, 64)), -1)
	ctx := context.Background()
	n.Do(ctx, &sessions.Command{Kind: sessions.KindStart, Tenant: sg.Tenant(), ID: id, TTL: 3600})
	n.Do(ctx, &sessions.Command{Kind: sessions.KindPSet, Tenant: sg.Tenant(), ID: id, Name: []byte("user"), Data: []byte("data")})
	c := newClient(s, nil)
	c.w = redcon.NewWriter(io.Discard)
	pget := [][]byte{[]byte("SESSIONGATE.PGET"), []byte("k"), sg.AppendToken(nil, id), []byte("user")}
	for _, depth := range []int{1, 16} {
		batch := make([][][]byte, depth)
		for i := range batch {
			batch[i] = pget
		}
		allocs := testing.AllocsPerRun(1000, func() {
			c.runBatch(batch)
			c.w.Flush()
		})
		if allocs != 0 {
			t.Fatalf("depth %d: %.1f allocations per pipeline of PGETs", depth, allocs)
		}
	}
}

// A pipeline handed to the backend in one DoBatch reuses the connection's buffers: the only
// allocation left per pipeline is the backend's slice of outcomes.
func TestPipelineReusesItsBuffers(t *testing.T) {
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	s := NewServer(Config{}, n)
	sg := sessions.NewSigner([]byte("k"))
	ctx := context.Background()
	var batch [][][]byte
	for i := range 16 {
		id, _ := sessions.NewID(bytes.NewReader(bytes.Repeat([]byte{byte(i + 1)}, 64)), -1)
		n.Do(ctx, &sessions.Command{Kind: sessions.KindStart, Tenant: sg.Tenant(), ID: id, TTL: 3600})
		n.Do(ctx, &sessions.Command{Kind: sessions.KindPSet, Tenant: sg.Tenant(), ID: id, Name: []byte("user"), Data: []byte("data")})
		batch = append(batch, [][]byte{[]byte("SESSIONGATE.PGET"), []byte("k"), sg.AppendToken(nil, id), []byte("user")})
	}
	c := newClient(s, nil)
	var out bytes.Buffer
	c.w = redcon.NewWriter(&out)
	allocs := testing.AllocsPerRun(500, func() {
		out.Reset()
		c.runBatch(batch)
		c.w.Flush()
	})
	if got := strings.Count(out.String(), "$4\r\ndata\r\n"); got != 16 {
		t.Fatalf("%d of 16 replies are the payload: %q", got, out.String())
	}
	if allocs > 1 {
		t.Fatalf("%.0f allocations per pipeline of 16 PGETs, want 1 (the outcomes)", allocs)
	}
}
