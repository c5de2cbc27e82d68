package replication

import (
	"bufio"
	"bytes"
	"context"
	"crypto/cipher"
	"io"
	"net"
	"testing"
	"time"
)

// The server side of the handshake, fed anything: it never panics, never reads past a few
// hundred bytes, and never lets a peer without the secret through.
func FuzzHandshake(f *testing.F) {
	keys := mustKeys(f, secretA)
	id := keys[0].ID()
	valid := append([]byte(magic), make([]byte, nonceLen)...)
	valid = append(valid, 1, 'c', 1)
	valid = append(valid, id[:]...)
	f.Add(valid)
	f.Add(append(bytes.Clone(valid), make([]byte, proofLen)...))
	f.Add([]byte(magic))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add(append([]byte(magic), make([]byte, nonceLen+1+255+1)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		srv, cli := net.Pipe()
		defer cli.Close()
		var read countingConn
		read.Conn = srv
		done := make(chan struct{})
		go func() { // the peer: sends the input, then reads whatever comes back
			defer close(done)
			cli.SetDeadline(time.Now().Add(time.Second))
			go io.Copy(io.Discard, cli)
			cli.Write(in)
			cli.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		sec := &Security{Name: "s", Keys: keys}
		_, err := sec.accept(ctx, &read)
		srv.Close()
		<-done
		if err == nil {
			t.Fatalf("a peer without the secret passed the handshake with %q", in)
		}
		if read.n > 4+nonceLen+2+255+4*8+proofLen {
			t.Fatalf("the handshake read %d bytes", read.n)
		}
	})
}

type countingConn struct {
	net.Conn
	n int
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n += n
	return n, err
}

// readFrame fed anything: it never panics and never holds more payload than it was sent.
func FuzzReadFrame(f *testing.F) {
	f.Add(requestFrame(f, 1, 2))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1})
	f.Add([]byte{0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 'a'})
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := readFrame(bufio.NewReader(bytes.NewReader(in)), 1<<20)
		if err == nil && len(fr.payload) > len(in) {
			t.Fatalf("a %d-byte payload from %d bytes", len(fr.payload), len(in))
		}
	})
}

// The opener fed anything: it never panics, and yields no more than it was given.
func FuzzOpener(f *testing.F) {
	s := &sealer{aead: mustAEAD(f)}
	f.Add(s.appendSealed(nil, []byte("hello")))
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		o := newOpener(bytes.NewReader(in), mustAEAD(t))
		b, err := io.ReadAll(o)
		if err == nil && len(b) > len(in) {
			t.Fatalf("opened %d bytes from %d", len(b), len(in))
		}
	})
}

func mustAEAD(t testing.TB) cipher.AEAD {
	a, err := newAEAD(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return a
}
