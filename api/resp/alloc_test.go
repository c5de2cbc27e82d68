package resp

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/tidwall/redcon"

	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
)

// A PGET on a lone node allocates nothing from its parsed args to its written reply: no
// command escapes to the heap, and signing does not either.
func TestPGETAllocatesNothing(t *testing.T) {
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	s := NewServer(Config{Sequential: true}, n)
	sg := sessions.NewSigner([]byte("k"))
	id, _ := sessions.NewID(bytes.NewReader(bytes.Repeat([]byte{7}, 64)), -1)
	ctx := context.Background()
	n.Do(ctx, &sessions.Command{Kind: sessions.KindStart, Tenant: sg.Tenant(), ID: id, TTL: 3600})
	n.Do(ctx, &sessions.Command{Kind: sessions.KindPSet, Tenant: sg.Tenant(), ID: id, Name: []byte("user"), Data: []byte("data")})
	c := newClient(s, nil)
	c.w = redcon.NewWriter(io.Discard)
	args := [][]byte{[]byte("SESSIONGATE.PGET"), []byte("k"), sg.AppendToken(nil, id), []byte("user")}
	allocs := testing.AllocsPerRun(1000, func() {
		c.write(c.exec(args, c.signer))
		c.w.Flush()
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per PGET", allocs)
	}
}
