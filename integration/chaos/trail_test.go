package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestTrailsListWhatConcernedAWrongSession(t *testing.T) {
	tok := "v1.AAAAAAAAAAAAAAAA.00"
	id := idOf(tok)
	s := &session{token: tok, owner: "user-1-2"}
	w := &window{kind: "rolling-restart", start: at(2000), healed: at(3000), end: at(3500)}
	tl := &timeline{windows: []*window{w}, names: []string{"n1", "n2"}}
	errs := newErrorTable()
	mk := func(inv int, kind opKind, out outcome, node int8, sess, detail string) opRecord {
		o := op(inv, inv+5, out, false, node, 7)
		o.kind, o.sess, o.detail = kind, sess, detail
		return o
	}
	ops := []opRecord{
		mk(1000, opCreate, acked, 0, id, "user-1-2"),
		mk(1500, opEndOwner, acked, 1, "BBBBBBBBBBBBBBBB", "user-1-3"), // another owner
		mk(2500, opPSet, unknown, 1, id, "a=1"),
		mk(2600, opPGet, acked, 0, "CCCCCCCCCCCCCCCC", ""),             // another session
		mk(2700, opEndOwner, acked, 0, "DDDDDDDDDDDDDDDD", "user-1-2"), // its owner's
	}
	var out bytes.Buffer
	printTrails(&out, map[string]wrongItem{tok: {}}, []*session{s}, ops, tl, tl.names, errs,
		func(token string) string { return "located " + token })
	got := out.String()
	for _, want := range []string{"session " + id + ` (owner "user-1-2"), 3 operations`,
		"CREATE   acked   via n1 [none] user-1-2", "PSET     unknown via n2 [rolling-restart] a=1",
		"ENDOWNER acked   via n1 [rolling-restart] user-1-2", "copies now: located " + tok} {
		if !strings.Contains(got, want) {
			t.Errorf("trail lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "user-1-3") || strings.Contains(got, "PGET") {
		t.Errorf("trail lists operations on other sessions:\n%s", got)
	}
	out.Reset()
	printTrails(&out, nil, []*session{s}, ops, tl, tl.names, errs, nil)
	if out.Len() != 0 {
		t.Errorf("trails printed with nothing wrong: %q", out.String())
	}
}

func TestLocateSummarisesEveryCopy(t *testing.T) {
	copyOf := func(node, rank, state, next, err string) string {
		return array(bulk("node"), bulk(node), bulk("rank"), ":"+rank+"\r\n", bulk("state"), bulk(state),
			bulk("version"), ":7\r\n", bulk("deadline_ms"), ":99\r\n", bulk("payloads"), ":1\r\n",
			bulk("next"), bulk(next), bulk("error"), bulk(err))
	}
	f := newFakeNode(t, func(args []string) string {
		if len(args) != 4 || args[0] != "SESSIONGATE.CLUSTER" || args[1] != "LOCATE" || args[2] != "chaos-key" {
			return errReply("ERR unexpected " + strings.Join(args, " "))
		}
		return array(copyOf("n1", "0", "live", "", ""), copyOf("n2", "-1", "ended", "XYZ", ""),
			copyOf("n3", "1", "unreachable", "", "timeout"))
	})
	down := newFakeNode(t, func([]string) string { return "" }) // answers nothing
	h := &harness{cfg: Config{SignKey: "chaos-key"}, admin: []*redis.Client{
		redis.NewClient(&redis.Options{Addr: down.addr, MaxRetries: -1}), redis.NewClient(&redis.Options{Addr: f.addr})}}
	got := h.locate("v1.TOKEN")
	want := "n1(rank 0) live v7 dl 99, n2(rank -1) ended next XYZ, n3(rank 1) unreachable (timeout)"
	if got != want {
		t.Errorf("locate: %q, want %q", got, want)
	}
}
