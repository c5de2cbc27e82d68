package client

import (
	"context"
	"testing"
	"time"
)

// Benchmarks against a real node on loopback: they measure the client, go-redis and the
// server together, one round trip per operation.

func benchClient(b *testing.B) (*Client, string) {
	n := startNode(b)
	c := realClient(b, "bench-key", 3, n.Addr)
	tok, err := c.Create(context.Background(), time.Hour, CreateOptions{Owner: "bench"})
	must(b, err)
	must(b, c.PSet(context.Background(), tok, "user", []byte(`{"id":42,"name":"Bruce"}`)))
	return c, tok
}

func BenchmarkPGet(b *testing.B) {
	c, tok := benchClient(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.PGet(ctx, tok, "user"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPGetParallel(b *testing.B) {
	c, tok := benchClient(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.PGet(ctx, tok, "user"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPSet(b *testing.B) {
	c, tok := benchClient(b)
	ctx := context.Background()
	data := []byte(`{"id":42,"name":"Bruce"}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.PSet(ctx, tok, "user", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInfo(b *testing.B) {
	c, tok := benchClient(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Info(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateEnd(b *testing.B) {
	c, _ := benchClient(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tok, err := c.Create(ctx, time.Hour, CreateOptions{Owner: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.End(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeInfo is the client's own cost of turning an INFO reply into a SessionInfo.
func BenchmarkDecodeInfo(b *testing.B) {
	reply := []any{"owner", "user42", "created", int64(1700000000), "last_seen", int64(1700000100),
		"ttl", int64(900), "idle_timeout", int64(1800), "idle", int64(3), "reads", int64(7),
		"writes", int64(2), "ip", "10.0.0.7", "ua", "Firefox/130", "payloads", int64(4)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeInfo("SESSIONGATE.INFO", reply); err != nil {
			b.Fatal(err)
		}
	}
}
