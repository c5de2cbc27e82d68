package replication

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// goroutineID reads the running goroutine's number from its stack header (tests only).
func goroutineID() int {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	n, _ := strconv.Atoi(string(b[:bytes.IndexByte(b, ' ')]))
	return n
}

// whoHandler answers with the goroutine that served the call.
type whoHandler struct{}

func (whoHandler) ServeCall(ctx context.Context, m Method, dec *msgpack.Decoder) (any, error) {
	return echoResp{N: goroutineID()}, nil
}

// Calls one after another on a connection are served by one reused worker, not a new
// goroutine (with a new stack to grow) per call.
func TestServerReusesCallWorkers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ServerConfig{}, whoHandler{})
	go s.Serve(ln)
	defer s.Close()
	c := NewClient(ClientConfig{})
	defer c.Close()
	ids := map[int]bool{}
	for i := 0; i < 200; i++ {
		var r echoResp
		if err := c.Call(context.Background(), ln.Addr().String(), 1, nil, &r); err != nil {
			t.Fatal(err)
		}
		ids[r.N] = true
	}
	// A reply is sent before its worker is idle again, so now and then the next call finds
	// no idle worker and starts another; far fewer than one per call.
	if len(ids) > 20 {
		t.Fatalf("200 sequential calls ran on %d goroutines", len(ids))
	}
	// Concurrent calls still run concurrently.
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r echoResp
			if err := c.Call(context.Background(), ln.Addr().String(), 1, nil, &r); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}
