package resp

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// loopReader serves the same bytes forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

func respCommand(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

// Framing a pipeline allocates nothing once the reader has warmed up: the arg slices come
// from an arena reused from call to call.
func TestReaderAllocatesNothingPerRequest(t *testing.T) {
	req := respCommand("SESSIONGATE.PGET", "key", "v1.0123456789abcdef.0123", "user")
	rd := newReader(&loopReader{data: []byte(strings.Repeat(req, 16))}, limits{maxArgs: 1 << 20, maxBulk: 1 << 20, maxCommand: 1 << 26})
	var batch [][][]byte
	allocs := testing.AllocsPerRun(1000, func() {
		var err error
		if batch, err = rd.next(batch); err != nil || len(batch) == 0 {
			t.Fatalf("next: %d requests, %v", len(batch), err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per call to next", allocs)
	}
}

// Requests returned by one call keep their args when the arena fills up mid-batch.
func TestReaderArenaGrowthKeepsEarlierArgs(t *testing.T) {
	var in bytes.Buffer
	const n = 300 // more arg slots than the first arena holds
	for i := 0; i < n; i++ {
		in.WriteString(respCommand("ECHO", fmt.Sprint(i), "x"))
	}
	rd := newReader(io.MultiReader(&in), limits{maxArgs: 16, maxBulk: 1 << 20, maxCommand: 1 << 26})
	rd.buf = make([]byte, 1<<20) // everything in one read: one batch
	batch, err := rd.next(nil)
	if err != nil || len(batch) != n {
		t.Fatalf("%d requests, %v", len(batch), err)
	}
	for i, args := range batch {
		if len(args) != 3 || string(args[0]) != "ECHO" || string(args[1]) != fmt.Sprint(i) || string(args[2]) != "x" {
			t.Fatalf("request %d: %q", i, args)
		}
	}
}

// One huge request does not pin its arg slices for the connection's life.
func TestReaderDropsHugeArena(t *testing.T) {
	args := make([]string, 5000)
	for i := range args {
		args[i] = "a"
	}
	in := strings.NewReader(respCommand(args...) + respCommand("PING"))
	rd := newReader(in, limits{maxArgs: 1 << 20, maxBulk: 1 << 20, maxCommand: 1 << 26})
	rd.buf = make([]byte, 1<<20)
	batch, err := rd.next(nil)
	if err != nil || len(batch) != 2 {
		t.Fatalf("%d requests, %v", len(batch), err)
	}
	rd.next(batch) // EOF; the arena was dropped before reading
	if cap(rd.arena) > maxArena {
		t.Fatalf("arena of %d slots kept", cap(rd.arena))
	}
}
