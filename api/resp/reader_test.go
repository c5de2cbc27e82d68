package resp

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
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

// readNumber's one-pass path must answer exactly as the general one, for every input.
func TestReadNumberFastPathAgrees(t *testing.T) {
	inputs := []string{
		"", "\r", "\r\n", "5", "5\r", "5\r\n", "16\r\n$3", "0\r\n", "007\r\n", "-1\r\n", "+5\r\n",
		"12a\r\n", "1 \r\n", "1\n", "1\r\r\n", "999999999999999999\r\n", "9999999999999999999\r\n",
		"123456789012345678901\r\n", "1048576\r\n", "2147483648\r\n", "\r\n5",
	}
	for _, in := range inputs {
		checkReadNumber(t, []byte(in))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789\r\n-+ x"
	for i := 0; i < 200_000; i++ {
		b := make([]byte, rng.IntN(24))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		checkReadNumber(t, b)
	}
}

func checkReadNumber(t *testing.T, b []byte) {
	t.Helper()
	for _, kind := range []byte{'*', '$'} {
		n, used, err := readNumber(b, kind)
		wn, wused, werr := readNumberSlow(b, kind)
		if n != wn || used != wused || err != werr {
			t.Fatalf("readNumber(%q, %c) = %d, %d, %v; the general path says %d, %d, %v", b, kind, n, used, err, wn, wused, werr)
		}
	}
}

// drained tells the server whether its next read goes to the socket: not while a request,
// whole or in part, is still in the buffer.
func TestReaderDrained(t *testing.T) {
	get := "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
	chunks := [][]byte{[]byte(get + get), []byte(get + get[:7]), []byte(get[7:])}
	rd := newReader(&chunkReader{chunks: chunks}, limits{maxArgs: 16, maxBulk: 1 << 20, maxCommand: 1 << 26})
	want := []struct {
		n       int
		drained bool
	}{{2, true}, {1, false}, {1, true}}
	var batch [][][]byte
	for i, w := range want {
		var err error
		if batch, err = rd.next(batch); err != nil {
			t.Fatal(err)
		}
		if len(batch) != w.n || rd.drained() != w.drained {
			t.Fatalf("read %d: %d requests, drained %v; want %d, %v", i, len(batch), rd.drained(), w.n, w.drained)
		}
	}
}

// chunkReader returns one chunk per Read.
type chunkReader struct{ chunks [][]byte }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks = r.chunks[1:]
	return n, nil
}
