package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// instantConn is a net.Conn whose server answers every SESSIONGATE.PGET with a 100-byte bulk
// and every other command with +OK, at once and in memory: what is left is the client's cost.
type instantConn struct {
	net.Conn
	out bytes.Buffer
	get []byte
}

func (c *instantConn) Write(b []byte) (int, error) {
	for rest := b; ; {
		i := bytes.Index(rest, []byte("SESSIONGATE."))
		if i < 0 {
			break
		}
		rest = rest[i+len("SESSIONGATE."):]
		if bytes.HasPrefix(rest, []byte("PGET")) {
			c.out.Write(c.get)
		} else {
			c.out.WriteString("+OK\r\n")
		}
	}
	return len(b), nil
}

func (c *instantConn) Read(b []byte) (int, error)       { return c.out.Read(b) }
func (c *instantConn) SetDeadline(time.Time) error      { return nil }
func (c *instantConn) SetReadDeadline(time.Time) error  { return nil }
func (c *instantConn) SetWriteDeadline(time.Time) error { return nil }
func (c *instantConn) Close() error                     { return nil }

// BenchmarkClientReadMix is the generator's own CPU per operation of the read workload
// (90% PGET, 100-byte payloads, Zipf 0.99 over 10,000 sessions): encode, parse, check,
// record in the histogram.
func BenchmarkClientReadMix(b *testing.B) {
	for _, depth := range []int{1, 16} {
		b.Run(fmt.Sprintf("pipeline=%d", depth), func(b *testing.B) {
			nc := &instantConn{get: []byte(bulk(string(payload(100))))}
			c := &Conn{nc: nc, w: newWriter(nc), r: newReader(nc)}
			cfg := testConfig()
			d := newSessiongateDialect(cfg, payload(100))
			pool := make([]session, 10000)
			for i := range pool {
				pool[i].ref = []byte(fmt.Sprintf("v1.%016d.%064d", i, i))
			}
			wl, _ := newWorkload(workloadRead, d, pool, newZipf(len(pool), 0.99), 0.9, rand.New(rand.NewPCG(1, 1)), 0)
			w := newWorker(c, wl, d, depth, &progress{}, newBudget(int64(b.N)), realClock{}, time.Second)
			b.ReportAllocs()
			b.ResetTimer()
			if err := w.closedLoop(context.Background()); err != nil {
				b.Fatal(err)
			}
			if len(w.st.errors) != 0 {
				b.Fatalf("failures: %v", w.st.errors)
			}
		})
	}
}

// BenchmarkSetDeadline is what moving a loopback TCP connection's deadline costs: what flush
// saved per request by moving it only when it leaves its window.
func BenchmarkSetDeadline(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			c.Read(make([]byte, 1)) // until the client closes
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < b.N; i++ {
		c.SetDeadline(time.Now().Add(10 * time.Second))
	}
}
