package replication

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// inlineEcho answers method 1 on the reader goroutine and leaves the others to workers.
type inlineEcho struct {
	echoHandler
	inline, worker atomic.Int32
}

func (h *inlineEcho) ServeCall(ctx context.Context, m Method, dec *msgpack.Decoder) (any, error) {
	h.worker.Add(1)
	return h.echoHandler.ServeCall(ctx, m, dec)
}

func (h *inlineEcho) ServeInline(ctx context.Context, m Method, dec *msgpack.Decoder) (any, bool, error) {
	if m != 1 {
		return nil, false, nil
	}
	h.inline.Add(1)
	resp, err := h.echoHandler.ServeCall(ctx, m, dec)
	return resp, true, err
}

// Calls an InlineHandler takes are answered without a worker; the rest still reach ServeCall
// with their payload intact.
func TestInlineHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &inlineEcho{}
	s := NewServer(ServerConfig{}, h)
	go s.Serve(ln)
	defer s.Close()
	c := NewClient(ClientConfig{})
	defer c.Close()
	ctx := context.Background()
	for i := 1; i <= 10; i++ {
		for _, m := range []Method{1, 2} {
			var resp echoResp
			if err := c.Call(ctx, ln.Addr().String(), m, echoReq{N: i}, &resp); err != nil || resp.N != i*int(m) {
				t.Fatalf("method %d, %d: %+v %v", m, i, resp, err)
			}
		}
	}
	var resp echoResp
	if err := c.Call(ctx, ln.Addr().String(), 1, echoReq{Fail: "no"}, &resp); err == nil || err.Error() != "remote: no" {
		t.Fatalf("inline error: %v", err)
	}
	if h.inline.Load() != 11 || h.worker.Load() != 10 {
		t.Fatalf("%d inline, %d on workers; want 11 and 10", h.inline.Load(), h.worker.Load())
	}
}
