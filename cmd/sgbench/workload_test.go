package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func testConfig() *Config {
	return &Config{SignKey: "k", TTL: 60, Payload: 4, ReadRatio: 0.9, Seed: 1}
}

// wire decodes what a writer produced back into commands.
func wire(t *testing.T, buf *bytes.Buffer) [][]string {
	t.Helper()
	r := newReader(bytes.NewReader(buf.Bytes()))
	var out [][]string
	for {
		rep, err := r.read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var args []string
		for _, e := range rep.Elems {
			args = append(args, string(e.Bytes))
		}
		out = append(out, args)
	}
}

func TestReadMixProportions(t *testing.T) {
	for _, ratio := range []float64{0, 0.5, 0.9, 1} {
		cfg := testConfig()
		pool := make([]session, 100)
		for i := range pool {
			pool[i].ref = []byte(fmt.Sprintf("tok%d", i))
		}
		var buf bytes.Buffer
		w := newWriter(&buf)
		d := newSessiongateDialect(cfg, []byte("data"))
		wl, err := newWorkload(workloadRead, d, pool, newZipf(len(pool), 0), ratio, rand.New(rand.NewPCG(1, 0)), 0)
		if err != nil {
			t.Fatal(err)
		}
		const n = 100_000
		counts := map[cmdKind]int{}
		var s slot
		for range n {
			o := wl.next(&s, w)
			counts[o.cmd]++
			wl.done(&s, o, Reply{}, false)
		}
		got := float64(counts[cmdPGet]) / n
		if counts[cmdPGet]+counts[cmdPSet] != n || got < ratio-0.005 || got > ratio+0.005 {
			t.Errorf("ratio %g: %v", ratio, counts)
		}
		w.flush()
		cmds := wire(t, &buf)
		if len(cmds) != n {
			t.Fatalf("%d commands on the wire, want %d", len(cmds), n)
		}
		pgets := 0
		for _, c := range cmds {
			if c[0] == "SESSIONGATE.PGET" && len(c) == 4 && c[1] == "k" && c[3] == "a" {
				pgets++
			} else if c[0] != "SESSIONGATE.PSET" || len(c) != 5 || c[4] != "data" {
				t.Fatalf("unexpected command %q", c)
			}
		}
		if pgets != counts[cmdPGet] {
			t.Fatalf("%d PGET on the wire, %d counted", pgets, counts[cmdPGet])
		}
	}
}

func TestReadMixFollowsSkew(t *testing.T) {
	pool := make([]session, 1000)
	for i := range pool {
		pool[i].ref = []byte(fmt.Sprintf("tok%d", i))
	}
	hot := func(skew float64) float64 {
		var buf bytes.Buffer
		w := newWriter(&buf)
		wl, _ := newWorkload(workloadRead, newSessiongateDialect(testConfig(), []byte("d")), pool,
			newZipf(len(pool), skew), 1, rand.New(rand.NewPCG(7, 0)), 0)
		var s slot
		for range 20_000 {
			wl.next(&s, w)
		}
		w.flush()
		n := 0
		for _, c := range wire(t, &buf) {
			if c[2] == "tok0" {
				n++
			}
		}
		return float64(n) / 20_000
	}
	// Uniform: tok0 gets 1/1000 of the reads; with s = 1 it gets 1/H(1000) = 13.4%.
	if u := hot(0); u > 0.003 {
		t.Errorf("uniform: hottest session got %.4f", u)
	}
	if z := hot(1); z < 0.12 || z > 0.15 {
		t.Errorf("skew 1: hottest session got %.4f, want about 0.134", z)
	}
}

// drive runs a workload for n requests on one slot, answering each with reply(cmd),
// and returns the commands written.
func drive(t *testing.T, wl workload, d dialect, n int, reply func(o op, i int) (Reply, bool)) ([]op, [][]string) {
	t.Helper()
	var buf bytes.Buffer
	w := newWriter(&buf)
	var s slot
	var ops []op
	for i := range n {
		o := wl.next(&s, w)
		ops = append(ops, o)
		rep, failed := reply(o, i)
		wl.done(&s, o, rep, failed)
	}
	w.flush()
	return ops, wire(t, &buf)
}

func tokenReply(o op, i int) (Reply, bool) {
	switch o.cmd {
	case cmdStart, cmdCreate, cmdRotate:
		return Reply{Type: '$', Bytes: []byte(fmt.Sprintf("tok-%d", i))}, false
	}
	return Reply{Type: '+', Bytes: []byte("OK")}, false
}

func TestLifecycleSequence(t *testing.T) {
	d := newSessiongateDialect(testConfig(), []byte("data"))
	wl, _ := newWorkload(workloadLifecycle, d, nil, nil, 0, nil, 0)
	ops, cmds := drive(t, wl, d, 2*lifeLen, tokenReply)
	var want []string
	for range 2 {
		want = append(want, "START", "PSET", "PSET", "PSET")
		for range lifePGets {
			want = append(want, "PGET")
		}
		want = append(want, "EXPIRE", "END")
	}
	for i, o := range ops {
		if o.cmd.String() != want[i] || o.n != 1 {
			t.Fatalf("op %d = %v, want %s", i, o, want[i])
		}
	}
	// Every command after a START carries the token that START returned.
	for i, c := range cmds {
		start := i - i%lifeLen
		if i == start {
			continue
		}
		if tok := fmt.Sprintf("tok-%d", start); c[2] != tok {
			t.Fatalf("command %d %q uses token %q, want %q", i, c[0], c[2], tok)
		}
	}
	// The PSETs write a, b, c and the PGETs cycle through them.
	if cmds[1][3] != "a" || cmds[3][3] != "c" || cmds[4][3] != "a" || cmds[6][3] != "c" || cmds[7][3] != "a" {
		t.Fatalf("payload names: %q", cmds[:8])
	}
}

func TestLifecycleStartsOverAfterAFailure(t *testing.T) {
	d := newSessiongateDialect(testConfig(), []byte("data"))
	wl, _ := newWorkload(workloadLifecycle, d, nil, nil, 0, nil, 0)
	ops, _ := drive(t, wl, d, 4, func(o op, i int) (Reply, bool) {
		if i == 2 {
			return Reply{Type: '-', Bytes: []byte("gone")}, true
		}
		return tokenReply(o, i)
	})
	if ops[2].cmd != cmdPSet || ops[3].cmd != cmdStart {
		t.Fatalf("after a failed PSET: %v", ops)
	}
}

func TestExtendedSequence(t *testing.T) {
	d := newSessiongateDialect(testConfig(), []byte("data"))
	wl, _ := newWorkload(workloadExtended, d, nil, nil, 0, nil, 3)
	ops, cmds := drive(t, wl, d, 2*extendedLen, tokenReply)
	want := []string{"CREATE", "INFO", "PUPDATE", "PGETALL", "ROTATE", "LIST", "ENDOWNER"}
	for i, o := range ops {
		if o.cmd.String() != want[i%extendedLen] {
			t.Fatalf("op %d = %v, want %s", i, o.cmd, want[i%extendedLen])
		}
	}
	if c := cmds[0]; len(c) != 7 || c[3] != "OWNER" || c[4] != "sgbench-3-1" || c[5] != "IDLE" {
		t.Fatalf("CREATE = %q", c)
	}
	if cmds[1][2] != "tok-0" || cmds[4][2] != "tok-0" {
		t.Fatalf("INFO and ROTATE must use CREATE's token: %q", cmds[:5])
	}
	if cmds[5][2] != "sgbench-3-1" || cmds[6][2] != "sgbench-3-1" || cmds[7][4] != "sgbench-3-2" {
		t.Fatalf("owners: LIST %q, ENDOWNER %q, next CREATE %q", cmds[5], cmds[6], cmds[7])
	}
	if c := cmds[2]; strings.Join(c[3:], " ") != "SET a data SET b data DEL c" {
		t.Fatalf("PUPDATE = %q", c)
	}
}

func TestRedisDialectLifecycle(t *testing.T) {
	d := newRedisDialect(testConfig(), []byte("data"), rand.New(rand.NewPCG(1, 2)))
	wl, _ := newWorkload(workloadLifecycle, d, nil, nil, 0, nil, 0)
	ops, cmds := drive(t, wl, d, lifeLen, func(op, int) (Reply, bool) { return Reply{Type: ':', Int: 1}, false })
	var names []string
	for _, c := range cmds {
		names = append(names, c[0])
	}
	want := "HSET EXPIRE HSET HSET HSET " + strings.Repeat("HGET ", lifePGets) + "EXPIRE DEL"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if ops[0].n != 2 || len(ops) != lifeLen {
		t.Fatalf("START must be one op of two commands: %v", ops[:2])
	}
	key := cmds[0][1]
	if !strings.HasPrefix(key, "sgs:") || len(key) != 20 {
		t.Fatalf("key %q", key)
	}
	for _, c := range cmds {
		if c[1] != key {
			t.Fatalf("%q does not use the session's key %q", c, key)
		}
	}
}

func TestRedisDialectExtended(t *testing.T) {
	d := newRedisDialect(testConfig(), []byte("data"), rand.New(rand.NewPCG(1, 2)))
	wl, _ := newWorkload(workloadExtended, d, nil, nil, 0, nil, 0)
	_, cmds := drive(t, wl, d, extendedLen, func(op, int) (Reply, bool) { return Reply{Type: ':', Int: 1}, false })
	var names []string
	for _, c := range cmds {
		names = append(names, c[0])
	}
	want := "HSET EXPIRE SADD HMGET HSET HDEL HGETALL RENAME SREM SADD SMEMBERS DEL"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// ROTATE renames to a new key, moves it in the owner's set, and the end deletes both.
	rename, srem, sadd, del := cmds[7], cmds[8], cmds[9], cmds[11]
	if rename[1] != cmds[0][1] || rename[2] == rename[1] || srem[2] != rename[1] || sadd[2] != rename[2] ||
		del[1] != rename[2] || del[2] != "sgo:sgbench-0-1" {
		t.Fatalf("rotate %q %q %q, end %q", rename, srem, sadd, del)
	}
}

func TestRedisCheck(t *testing.T) {
	d := newRedisDialect(testConfig(), nil, rand.New(rand.NewPCG(1, 2)))
	for _, c := range []struct {
		cmd  cmdKind
		rep  Reply
		want string
	}{
		{cmdPGet, Reply{Type: '$', Bytes: []byte("x")}, ""},
		{cmdPGet, Reply{Type: '$', Nil: true}, "unexpected reply to PGET: (nil)"},
		{cmdExpire, Reply{Type: ':', Int: 0}, "EXPIRE: no such key"},
		{cmdEnd, Reply{Type: ':', Int: 1}, ""},
		{cmdPSet, Reply{Type: '-', Bytes: []byte("WRONGTYPE Operation against a key")}, "WRONGTYPE"},
	} {
		if got := d.check(c.cmd, c.rep); got != c.want {
			t.Errorf("%v %v: got %q, want %q", c.cmd, c.rep, got, c.want)
		}
	}
}
