package resp

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tidwall/redcon"

	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
)

// serveBytes runs one connection over an in-memory pipe: input in, replies out.
func serveBytes(t testing.TB, s *Server, input []byte) []byte {
	srv, cli := net.Pipe()
	c := newClient(s, srv)
	done := make(chan struct{})
	go func() { c.serve(); close(done) }()
	var out bytes.Buffer
	readDone := make(chan struct{})
	go func() { io.Copy(&out, cli); close(readDone) }()
	cli.Write(input)
	cli.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("server hung on %q", input)
	}
	<-readDone
	return out.Bytes()
}

func newFuzzServer(t testing.TB) *Server {
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	return NewServer(Config{MaxBulk: 1 << 20, MaxCommandBytes: 4 << 20}, n)
}

// FuzzServe feeds arbitrary bytes through the framer and the command table: no panic, no hang.
func FuzzServe(f *testing.F) {
	tok := string(sessions.NewSigner([]byte("k")).AppendToken(nil, sessions.ID([]byte("0123456789abcdEF"))))
	seeds := []string{
		"PING\r\n",
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$17\r\nSESSIONGATE.START\r\n$1\r\nk\r\n$2\r\n60\r\n",
		"*5\r\n$16\r\nSESSIONGATE.PSET\r\n$1\r\nk\r\n$84\r\n" + tok + "\r\n$1\r\na\r\n$1\r\nb\r\n",
		"*4\r\n$16\r\nSESSIONGATE.PGET\r\n$1\r\nk\r\n$84\r\n" + tok + "\r\n$1\r\na\r\n",
		"*4\r\n$18\r\nSESSIONGATE.EXPIRE\r\n$1\r\nk\r\n$84\r\n" + tok + "\r\n$1\r\n0\r\n",
		"*9\r\n$18\r\nSESSIONGATE.CREATE\r\n$1\r\nk\r\n$2\r\n60\r\n$5\r\nOWNER\r\n$1\r\nu\r\n$11\r\nMAXSESSIONS\r\n$1\r\n1\r\n$5\r\nEVICT\r\n$4\r\nIDLE\r\n",
		"*7\r\n$19\r\nSESSIONGATE.PUPDATE\r\n$1\r\nk\r\n$84\r\n" + tok + "\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n$3\r\nDEL\r\n",
		"*3\r\n$17\r\nSESSIONGATE.ACTIVE\r\n$1\r\nk\r\n$2\r\n60\r\n",
		"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*2\r\n$4\r\nINFO\r\n$3\r\nall\r\n",
		"*2\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n",
		"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$1\r\nx\r\n",
		"*99999999\r\n",
		"*1\r\n$99999999999\r\n",
		"*2\r\n$4\r\nECHO\r\n$3\r\nab",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		serveBytes(t, s, in)
	})
}

func TestReaderEverySplit(t *testing.T) {
	req := []byte("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nhello\r\nPING\r\n*1\r\n$4\r\nPING\r\n")
	for split := 0; split <= len(req); split++ {
		pr, pw := io.Pipe()
		rd := newReader(pr, limits{maxArgs: 10, maxBulk: 100, maxCommand: 1000})
		go func() {
			pw.Write(req[:split])
			pw.Write(req[split:])
			pw.Close()
		}()
		var got []string
		var batch [][][]byte
		for {
			var err error
			batch, err = rd.next(batch)
			for _, args := range batch {
				got = append(got, string(bytes.Join(args, []byte(" "))))
			}
			if err != nil {
				break
			}
		}
		want := []string{"SET a hello", "PING", "PING"}
		if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("split at %d: %q", split, got)
		}
	}
}

// benchDispatch times one command through the command table and reply writer, no network.
func benchDispatch(b *testing.B, args func(tok []byte) [][]byte) {
	n, _ := node.Create(node.Config{})
	defer n.Shutdown()
	s := NewServer(Config{}, n)
	sg := sessions.NewSigner([]byte("k"))
	id, _ := sessions.NewID(bytes.NewReader(bytes.Repeat([]byte{7}, 64)), -1)
	n.Do(context.Background(), &sessions.Command{Kind: sessions.KindStart, Tenant: sg.Tenant(), ID: id, TTL: 3600})
	n.Do(context.Background(), &sessions.Command{Kind: sessions.KindPSet, Tenant: sg.Tenant(), ID: id, Name: []byte("user"), Data: bytes.Repeat([]byte("d"), 64)})
	c := newClient(s, nil)
	c.w = redcon.NewWriter(io.Discard)
	batch := [][][]byte{args(sg.AppendToken(nil, id))}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.runBatch(batch)
		c.w.Flush()
	}
}

func BenchmarkDispatchPGET(b *testing.B) {
	benchDispatch(b, func(tok []byte) [][]byte {
		return [][]byte{[]byte("SESSIONGATE.PGET"), []byte("k"), tok, []byte("user")}
	})
}

func BenchmarkDispatchPSET(b *testing.B) {
	benchDispatch(b, func(tok []byte) [][]byte {
		return [][]byte{[]byte("SESSIONGATE.PSET"), []byte("k"), tok, []byte("user"), bytes.Repeat([]byte("d"), 64)}
	})
}
