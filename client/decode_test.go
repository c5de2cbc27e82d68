package client

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// infoFields is INFO's reply for a known session, as pairs in the server's order.
func infoFields(token string) []string {
	var kv []string
	if token != "" {
		kv = append(kv, bulk("token"), bulk(token))
	}
	return append(kv,
		bulk("owner"), bulk("user42"), bulk("created"), num(1700000000), bulk("last_seen"), num(1700000100),
		bulk("ttl"), num(900), bulk("idle_timeout"), num(1800), bulk("idle"), num(3),
		bulk("reads"), num(7), bulk("writes"), num(2), bulk("ip"), bulk("10.0.0.7"),
		bulk("ua"), bulk("Firefox/130"), bulk("payloads"), num(4), bulk("future_field"), bulk("ignored"))
}

func wantInfo(token string) SessionInfo {
	return SessionInfo{Token: token, Owner: "user42", Created: time.Unix(1700000000, 0),
		LastSeen: time.Unix(1700000100, 0), TTL: 900 * time.Second, IdleTimeout: 1800 * time.Second,
		Idle: 3 * time.Second, Reads: 7, Writes: 2, IP: "10.0.0.7", UA: "Firefox/130", Payloads: 4}
}

// INFO, LIST and ACTIVE decode the same from RESP2 flat arrays and RESP3 maps.
func TestDecodeInfoBothProtocols(t *testing.T) {
	for _, shape := range []struct {
		name string
		wrap func(...string) string
	}{{"resp2", array}, {"resp3", resp3Map}} {
		t.Run(shape.name, func(t *testing.T) {
			f := newFake(t, func(args []string) string {
				switch args[0] {
				case "SESSIONGATE.INFO":
					return shape.wrap(infoFields("")...)
				case "SESSIONGATE.LIST", "SESSIONGATE.ACTIVE":
					return array(shape.wrap(infoFields(fakeToken)...), shape.wrap(infoFields(fakeToken)...))
				case "SESSIONGATE.PGETALL":
					return shape.wrap(bulk("a"), bulk("1"), bulk("bin"), bulk("\x00\r\n\xff"))
				}
				return errReply("ERR unexpected")
			})
			c := fakeClient(t, Config{}, f)
			ctx := context.Background()
			in, err := c.Info(ctx, fakeToken)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, wantInfo("")) {
				t.Fatalf("Info\n got %+v\nwant %+v", in, wantInfo(""))
			}
			list, err := c.List(ctx, "user42")
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 2 || !reflect.DeepEqual(list[1], wantInfo(fakeToken)) {
				t.Fatalf("List %+v", list)
			}
			active, err := c.Active(ctx, time.Minute, 0)
			if err != nil || len(active) != 2 || active[0].Token != fakeToken {
				t.Fatalf("Active %+v %v", active, err)
			}
			all, err := c.PGetAll(ctx, fakeToken)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(all, map[string][]byte{"a": []byte("1"), "bin": []byte("\x00\r\n\xff")}) {
				t.Fatalf("PGetAll %q", all)
			}
		})
	}
}

// Replies of a shape the command never sends are errors, not panics or zero values.
func TestMalformedReplies(t *testing.T) {
	cases := []struct {
		reply string
		call  func(*Client) error
	}{
		{array(bulk("owner")), func(c *Client) error { _, err := c.Info(context.Background(), fakeToken); return err }},
		{array(num(1), bulk("x")), func(c *Client) error { _, err := c.Info(context.Background(), fakeToken); return err }},
		{array(bulk("reads"), bulk("many")), func(c *Client) error { _, err := c.Info(context.Background(), fakeToken); return err }},
		{array(bulk("owner"), num(5)), func(c *Client) error { _, err := c.Info(context.Background(), fakeToken); return err }},
		{bulk("x"), func(c *Client) error { _, err := c.List(context.Background(), "o"); return err }},
		{array(num(1)), func(c *Client) error { _, err := c.Active(context.Background(), time.Second, 0); return err }},
		{array(bulk("a"), num(1)), func(c *Client) error { _, err := c.PGetAll(context.Background(), fakeToken); return err }},
		{num(3), func(c *Client) error { _, err := c.PGet(context.Background(), fakeToken, "n"); return err }},
		{bulk("not-a-token"), func(c *Client) error { _, err := c.Start(context.Background(), time.Second); return err }},
		{num(1), func(c *Client) error { return c.End(context.Background(), fakeToken) }},
		{bulk("5"), func(c *Client) error { _, err := c.TTL(context.Background(), fakeToken); return err }},
	}
	for i, tc := range cases {
		f := newFake(t, func([]string) string { return tc.reply })
		c := fakeClient(t, Config{MaxRetries: -1}, f)
		err := tc.call(c)
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Msg, "unexpected reply") {
			t.Errorf("case %d (%q): %v", i, tc.reply, err)
		}
	}
}

// Each method sends the command, arguments and duration rounding the reference defines.
func TestCommandArguments(t *testing.T) {
	f := newFake(t, func(args []string) string {
		switch args[0] {
		case "SESSIONGATE.START", "SESSIONGATE.CREATE", "SESSIONGATE.ROTATE", "SESSIONGATE.PGET":
			return bulk(fakeToken)
		case "SESSIONGATE.TTL", "SESSIONGATE.ENDOWNER", "SESSIONGATE.ENDALL", "SESSIONGATE.ACTIVITY":
			return num(3)
		case "SESSIONGATE.ACTIVE":
			return array()
		}
		return okReply
	})
	c := fakeClient(t, Config{SignKey: []byte("k")}, f)
	ctx := context.Background()
	tok := fakeToken
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Start(ctx, 1500*time.Millisecond)
	must(err)
	_, err = c.Start(ctx, 0)
	must(err)
	must(c.Expire(ctx, tok, time.Hour))
	must(c.PSet(ctx, tok, "n", []byte("d\x00")))
	_, err = c.PGet(ctx, tok, "n")
	must(err)
	must(c.PDel(ctx, tok, "n"))
	must(c.End(ctx, tok))
	_, err = c.Create(ctx, time.Hour, CreateOptions{})
	must(err)
	_, err = c.Create(ctx, time.Hour, CreateOptions{Owner: "u", Idle: 90*time.Second + 1, IP: "10.0.0.7", UA: "UA/1", MaxSessions: 5, Evict: true})
	must(err)
	_, err = c.Create(ctx, time.Hour, CreateOptions{Owner: "u", MaxSessions: 2})
	must(err)
	must(c.PUpdate(ctx, tok, Set("a", []byte("1")), Del("b"), Update{Name: "c", Data: []byte("3")}, Update{Name: "d"}, Set("e", nil)))
	d, err := c.TTL(ctx, tok)
	must(err)
	if d != 3*time.Second {
		t.Fatalf("TTL %v", d)
	}
	must(c.SetIdle(ctx, tok, 0))
	_, err = c.Rotate(ctx, tok)
	must(err)
	_, err = c.List(ctx, "u")
	if err == nil {
		t.Fatal("List decoded +OK")
	}
	n, err := c.EndOwner(ctx, "u")
	must(err)
	if n != 3 {
		t.Fatalf("EndOwner %d", n)
	}
	_, err = c.EndAll(ctx)
	must(err)
	_, err = c.Activity(ctx, 5*time.Minute)
	must(err)
	_, err = c.Active(ctx, time.Minute, 0)
	must(err)
	_, err = c.Active(ctx, time.Minute, 50)
	must(err)

	want := [][]string{
		{"SESSIONGATE.START", "k", "2"},
		{"SESSIONGATE.START", "k", "0"},
		{"SESSIONGATE.EXPIRE", "k", tok, "3600"},
		{"SESSIONGATE.PSET", "k", tok, "n", "d\x00"},
		{"SESSIONGATE.PGET", "k", tok, "n"},
		{"SESSIONGATE.PDEL", "k", tok, "n"},
		{"SESSIONGATE.END", "k", tok},
		{"SESSIONGATE.CREATE", "k", "3600"},
		{"SESSIONGATE.CREATE", "k", "3600", "OWNER", "u", "IDLE", "91", "IP", "10.0.0.7", "UA", "UA/1", "MAXSESSIONS", "5", "EVICT"},
		{"SESSIONGATE.CREATE", "k", "3600", "OWNER", "u", "MAXSESSIONS", "2", "REFUSE"},
		{"SESSIONGATE.PUPDATE", "k", tok, "SET", "a", "1", "DEL", "b", "SET", "c", "3", "DEL", "d", "SET", "e", ""},
		{"SESSIONGATE.TTL", "k", tok},
		{"SESSIONGATE.IDLE", "k", tok, "0"},
		{"SESSIONGATE.ROTATE", "k", tok},
		{"SESSIONGATE.LIST", "k", "u"},
		{"SESSIONGATE.ENDOWNER", "k", "u"},
		{"SESSIONGATE.ENDALL", "k"},
		{"SESSIONGATE.ACTIVITY", "k", "300"},
		{"SESSIONGATE.ACTIVE", "k", "60"},
		{"SESSIONGATE.ACTIVE", "k", "60", "LIMIT", "50"},
	}
	got := f.commands()
	if !reflect.DeepEqual(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w []string
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("command %d\n got %q\nwant %q", i, g, w)
			}
		}
	}
}

// An empty PUpdate is a no-op that asks nothing of the server.
func TestEmptyPUpdateSendsNothing(t *testing.T) {
	f := newFake(t, func([]string) string { return okReply })
	c := fakeClient(t, Config{}, f)
	if err := c.PUpdate(context.Background(), fakeToken); err != nil {
		t.Fatal(err)
	}
	if n := f.count(); n != 0 {
		t.Fatalf("%d commands sent", n)
	}
}
