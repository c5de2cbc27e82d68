package membership

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/clusterkey"
	"github.com/sessiongate/sessiongate/ratelog"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func key(t *testing.T, secret string) clusterkey.Key {
	t.Helper()
	k, err := clusterkey.New([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// idle is a Membership that is not gossiping, for the decisions that need no network.
func idle(t *testing.T, cfg Config) *Membership {
	t.Helper()
	m := &Membership{cfg: cfg, log: quiet(), peers: map[string]Member{}, keysOf: map[string][][]byte{}}
	kr, err := m.keyring()
	if err != nil {
		t.Fatal(err)
	}
	m.kr = kr
	return m
}

func ids(keys ...clusterkey.Key) [][]byte {
	var out [][]byte
	for _, k := range keys {
		id := k.ID()
		out = append(out, id[:])
	}
	return out
}

// memberlist reports refused gossip only in its own log lines; they become warnings (the
// rest stays at debug level).
func TestRefusedGossipIsAWarning(t *testing.T) {
	var out bytes.Buffer
	w := slogWriter{log: slog.New(slog.NewTextHandler(&out, nil)), refusals: &ratelog.Limiter{}}
	fmt.Fprintln(w, "2026/12/07 01:00:00 [DEBUG] memberlist: Stream connection from=127.0.0.1:5000")
	fmt.Fprintln(w, "2026/12/07 01:00:00 [ERR] memberlist: Decrypt packet failed: No installed keys could decrypt the message from=127.0.0.1:5000")
	fmt.Fprintln(w, "2026/12/07 01:00:00 [WARN] memberlist: failed to join 127.0.0.1:5000: remote state is not encrypted")
	if got := out.String(); strings.Count(got, "level=WARN") != 1 || !strings.Contains(got, "gossip refused") || strings.Contains(got, "Stream connection") {
		t.Fatalf("log:\n%s", got)
	}
}

func TestCompatible(t *testing.T) {
	m := idle(t, Config{Name: "a", Partitions: 32})
	node := func(name string, partitions int) *memberlist.Node {
		b, _ := msgpack.Marshal(meta{Partitions: partitions})
		return &memberlist.Node{Name: name, Meta: b}
	}
	for _, c := range []struct {
		n  *memberlist.Node
		ok bool
	}{
		{node("b", 32), true},
		{node("b", 64), false},
		{node("a", 64), true}, // itself
		{&memberlist.Node{Name: "b", Meta: []byte{0xc1}}, false},
	} {
		if err := m.compatible(c.n); (err == nil) != c.ok || err != nil && !errors.Is(err, ErrIncompatible) {
			t.Errorf("%s with %x: %v", c.n.Name, c.n.Meta, err)
		}
	}
}

// Gossip moves to the newest secret only once every member holds it.
func TestUseSharedKey(t *testing.T) {
	a, b := key(t, "secret-A-0123456789"), key(t, "secret-B-0123456789")
	m := idle(t, Config{Name: "n", Keys: []clusterkey.Key{b, a}})
	m.keysOf = map[string][][]byte{"x": ids(b, a), "y": ids(a)}
	m.UseSharedKey()
	if !bytes.Equal(m.GossipKey(), a.Gossip()) {
		t.Fatal("gossip not moved back to the secret every member holds")
	}
	m.keysOf["y"] = ids(b)
	m.UseSharedKey()
	if !bytes.Equal(m.GossipKey(), b.Gossip()) {
		t.Fatal("gossip not moved to the newest secret once every member holds it")
	}
}

// Under Transition, gossip stays in clear until every member holds a secret of this node's.
func TestUseSharedKeyTransition(t *testing.T) {
	a := key(t, "secret-A-0123456789")
	m := idle(t, Config{Name: "n", Keys: []clusterkey.Key{a}, Transition: true})
	m.UseSharedKey()
	if m.GossipKey() != nil {
		t.Fatal("encrypting before joining anyone")
	}
	m.keysOf = map[string][][]byte{"x": ids(a), "y": nil}
	m.peers = map[string]Member{"x": {Name: "x", Repl: "x:1"}, "y": {Name: "y", Repl: "y:1"}}
	m.UseSharedKey()
	if m.GossipKey() != nil {
		t.Fatal("encrypting while a member holds no secret")
	}
	if m.PlainTo("x:1") || !m.PlainTo("y:1") || m.PlainTo("z:1") {
		t.Fatal("PlainTo does not follow the secrets the members hold")
	}
	m.keysOf["y"] = ids(a)
	m.UseSharedKey()
	if !bytes.Equal(m.GossipKey(), a.Gossip()) {
		t.Fatal("gossip still in clear once every member holds the secret")
	}
}

func loopback(t *testing.T) string {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			u.Close()
			return "127.0.0.1:" + strconv.Itoa(port)
		}
	}
	t.Fatal("no free port")
	return ""
}

func start(t *testing.T, cfg Config) *Membership {
	t.Helper()
	cfg.BindAddr, cfg.Logger, cfg.Memberlist = loopback(t), quiet(), FastGossip
	if cfg.Partitions == 0 {
		cfg.Partitions = 8
	}
	ctx, cancel := context.WithCancel(t.Context())
	m, err := Create(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); m.Shutdown() })
	return m
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Two members see each other; one with another partition count is refused; Identify keeps a
// member out until it answers under its name.
func TestJoin(t *testing.T) {
	var changes atomic.Int32
	a := start(t, Config{Name: "a", Repl: "a:1", OnChange: func() { changes.Add(1) }})
	b := start(t, Config{Name: "b", Repl: "b:1", Join: []string{a.cfg.BindAddr}})
	if err := b.Join(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to see b", func() bool {
		ms := a.Members()
		return len(ms) == 1 && ms[0].Name == "b" && ms[0].Repl == "b:1" && ms[0].State == "alive"
	})
	if changes.Load() == 0 {
		t.Fatal("OnChange not called")
	}

	odd := start(t, Config{Name: "odd", Partitions: 16, Join: []string{a.cfg.BindAddr}})
	if err := odd.Join(t.Context()); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("join with another partition count: %v", err)
	}

	var answer atomic.Value
	answer.Store("someone else")
	identify := func(ctx context.Context, repl string) (string, error) { return answer.Load().(string), nil }
	v := start(t, Config{Name: "v", Identify: identify, RejoinInterval: 50 * time.Millisecond, Join: []string{a.cfg.BindAddr}})
	if err := v.Join(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(v.Members()); n != 0 {
		t.Fatalf("%d members admitted that answered under another name", n)
	}
	answer.Store("a")
	waitFor(t, "a to be admitted once verified", func() bool {
		ms := v.Members()
		return len(ms) == 1 && ms[0].Name == "a"
	})
}

func TestJoinHonoursContext(t *testing.T) {
	m := start(t, Config{Name: "a", Join: []string{loopback(t)}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Join(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("join with a cancelled context: %v", err)
	}
}
