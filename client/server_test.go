package client

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// These tests run against a real sessiongated (see TestMain).

func realClient(t testing.TB, key string, protocol int, addrs ...string) *Client {
	t.Helper()
	c, err := New(Config{Addrs: addrs, SignKey: []byte(key), Protocol: protocol})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: %v, want %v", what, err, kind)
	}
}

func bothProtocols(t *testing.T, f func(t *testing.T, protocol int)) {
	for _, p := range []int{2, 3} {
		t.Run(fmt.Sprintf("resp%d", p), func(t *testing.T) { f(t, p) })
	}
}

// The six original commands, as the module's driver used them.
func TestRealOriginalCommands(t *testing.T) {
	n := startNode(t)
	bothProtocols(t, func(t *testing.T, p int) {
		c := realClient(t, "orig-key", p, n.Addr)
		ctx := context.Background()
		tok, err := c.Start(ctx, time.Hour)
		must(t, err)
		if !ValidToken(tok) {
			t.Fatalf("token %q", tok)
		}
		_, err = c.PGet(ctx, tok, "user")
		wantErr(t, "PGet before PSet", err, ErrNoPayload)
		wantErr(t, "PDel with no payloads", c.PDel(ctx, tok, "user"), ErrNoPayload)
		data := []byte("{\"id\":42}\x00\r\n\xff")
		must(t, c.PSet(ctx, tok, "user", data))
		got, err := c.PGet(ctx, tok, "user")
		must(t, err)
		if !bytes.Equal(got, data) {
			t.Fatalf("PGet %q", got)
		}
		must(t, c.PDel(ctx, tok, "missing")) // the module's quirk: other payloads exist
		must(t, c.PDel(ctx, tok, "user"))
		must(t, c.Expire(ctx, tok, 90*time.Second+time.Millisecond))
		ttl, err := c.TTL(ctx, tok)
		must(t, err)
		if ttl != 91*time.Second {
			t.Fatalf("TTL after Expire(90.001s) = %v, want 91s (rounded up)", ttl)
		}
		must(t, c.End(ctx, tok))
		wantErr(t, "End twice", c.End(ctx, tok), ErrNoSession)
		_, err = c.PGet(ctx, tok, "user")
		wantErr(t, "PGet after End", err, ErrNoSession)

		dead, err := c.Start(ctx, 0)
		must(t, err)
		_, err = c.TTL(ctx, dead)
		wantErr(t, "TTL of a ttl-0 session", err, ErrNoSession)

		tok, err = c.Start(ctx, time.Hour)
		must(t, err)
		must(t, c.Expire(ctx, tok, 0))
		_, err = c.Info(ctx, tok)
		wantErr(t, "Info after Expire(0)", err, ErrNoSession)
	})
}

func TestRealExtendedCommands(t *testing.T) {
	n := startNode(t)
	bothProtocols(t, func(t *testing.T, p int) {
		key := fmt.Sprintf("ext-key-%d", p)
		c := realClient(t, key, p, n.Addr)
		ctx := context.Background()
		before := time.Now().Add(-time.Second)
		tok, err := c.Create(ctx, time.Hour, CreateOptions{Owner: "user42", Idle: 15 * time.Minute, IP: "10.0.0.7", UA: "Firefox/130"})
		must(t, err)
		in, err := c.Info(ctx, tok)
		must(t, err)
		if in.Owner != "user42" || in.IP != "10.0.0.7" || in.UA != "Firefox/130" || in.IdleTimeout != 15*time.Minute ||
			in.TTL <= 14*time.Minute || in.TTL > 15*time.Minute || in.Payloads != 0 || in.Token != "" ||
			in.Created.Before(before.Truncate(time.Second)) || in.Reads < 1 {
			t.Fatalf("Info %+v", in)
		}

		must(t, c.PUpdate(ctx, tok, Set("name", []byte("Bruce")), Set("job", []byte("records")), Set("unread", []byte("3"))))
		must(t, c.PUpdate(ctx, tok, Set("job", []byte("gold records")), Del("unread"), Del("never-set")))
		all, err := c.PGetAll(ctx, tok)
		must(t, err)
		if len(all) != 2 || string(all["name"]) != "Bruce" || string(all["job"]) != "gold records" {
			t.Fatalf("PGetAll %q", all)
		}
		// Atomic: one bad name and nothing applies.
		err = c.PUpdate(ctx, tok, Set("name", []byte("Wayne")), Set("", []byte("x")))
		wantErr(t, "PUpdate with an empty name", err, ErrNameEmpty)
		wantErr(t, "PUpdate with an empty name", err, ErrBadPayload)
		got, err := c.PGet(ctx, tok, "name")
		must(t, err)
		if string(got) != "Bruce" {
			t.Fatalf("a failed PUpdate applied: name = %q", got)
		}

		must(t, c.SetIdle(ctx, tok, 0))
		ttl, err := c.TTL(ctx, tok)
		must(t, err)
		if ttl <= 59*time.Minute {
			t.Fatalf("TTL after removing the idle timeout: %v", ttl)
		}

		newTok, err := c.Rotate(ctx, tok)
		must(t, err)
		if newTok == tok || !ValidToken(newTok) {
			t.Fatalf("Rotate gave %q", newTok)
		}
		_, err = c.Info(ctx, tok)
		wantErr(t, "old token after Rotate", err, ErrNoSession)
		got, err = c.PGet(ctx, newTok, "name")
		must(t, err)
		if string(got) != "Bruce" {
			t.Fatalf("payload after Rotate: %q", got)
		}

		second, err := c.Create(ctx, time.Hour, CreateOptions{Owner: "user42"})
		must(t, err)
		_, err = c.Create(ctx, time.Hour, CreateOptions{Owner: "someone-else"})
		must(t, err)
		list, err := c.List(ctx, "user42")
		must(t, err)
		if len(list) != 2 || list[0].Token != newTok || list[1].Token != second || list[0].Owner != "user42" {
			t.Fatalf("List %+v", list)
		}

		// MAXSESSIONS: refuse at the cap, or evict the oldest.
		_, err = c.Create(ctx, time.Hour, CreateOptions{Owner: "user42", MaxSessions: 2})
		wantErr(t, "Create over the cap", err, ErrOwnerLimit)
		third, err := c.Create(ctx, time.Hour, CreateOptions{Owner: "user42", MaxSessions: 2, Evict: true})
		must(t, err)
		_, err = c.Info(ctx, newTok)
		wantErr(t, "evicted session", err, ErrNoSession)
		list, err = c.List(ctx, "user42")
		must(t, err)
		if len(list) != 2 || list[0].Token != second || list[1].Token != third {
			t.Fatalf("List after evict %+v", list)
		}

		owners, err := c.Activity(ctx, time.Minute)
		must(t, err)
		if owners != 2 {
			t.Fatalf("Activity = %d, want 2", owners)
		}
		active, err := c.Active(ctx, time.Minute, 0)
		must(t, err)
		if len(active) != 3 {
			t.Fatalf("Active: %d sessions", len(active))
		}
		active, err = c.Active(ctx, time.Minute, 1)
		must(t, err)
		if len(active) != 1 {
			t.Fatalf("Active limit 1: %d sessions", len(active))
		}

		ended, err := c.EndOwner(ctx, "user42")
		must(t, err)
		if ended != 2 {
			t.Fatalf("EndOwner = %d", ended)
		}
		list, err = c.List(ctx, "user42")
		must(t, err)
		if len(list) != 0 {
			t.Fatalf("List after EndOwner: %d", len(list))
		}
		ended, err = c.EndAll(ctx)
		must(t, err)
		if ended != 1 {
			t.Fatalf("EndAll = %d", ended)
		}
	})
}

// sign computes a token's signature with key, as the server does.
func sign(key, id string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}

func TestRealErrors(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	a := realClient(t, "key-a", 3, n.Addr)
	b := realClient(t, "key-b", 3, n.Addr)
	tok, err := a.Start(ctx, time.Hour)
	must(t, err)
	id := tok[3:19]

	_, err = a.PGet(ctx, "", "x")
	wantErr(t, "empty token", err, ErrBadToken)
	_, err = a.PGet(ctx, "garbage", "x")
	wantErr(t, "garbage token", err, ErrBadToken)
	_, err = a.PGet(ctx, "v1."+id+"."+sign("key-b", id), "x")
	wantErr(t, "token signed with another key", err, ErrBadSignature)
	_, err = b.PGet(ctx, tok, "x")
	wantErr(t, "other client's token", err, ErrBadSignature)
	// Correctly signed for key-b, naming key-a's session.
	_, err = b.PGet(ctx, "v1."+id+"."+sign("key-b", id), "x")
	wantErr(t, "session of another key", err, ErrWrongKey)

	wantErr(t, "empty name", a.PSet(ctx, tok, "", []byte("x")), ErrNameEmpty)
	wantErr(t, "long name", a.PSet(ctx, tok, strings.Repeat("n", 201), []byte("x")), ErrNameTooLong)
	wantErr(t, "empty data", a.PSet(ctx, tok, "n", nil), ErrDataEmpty)
	wantErr(t, "large data", a.PSet(ctx, tok, "n", make([]byte, 8_000_001)), ErrDataTooLong)
	must(t, a.PSet(ctx, tok, "n", make([]byte, 8_000_000)))
	big, err := a.PGet(ctx, tok, "n")
	must(t, err)
	if len(big) != 8_000_000 {
		t.Fatalf("8 MB payload came back as %d bytes", len(big))
	}

	_, err = a.Start(ctx, 3153600001*time.Second)
	wantErr(t, "ttl over 100 years", err, ErrInvalidArgument)
	_, err = a.Create(ctx, time.Hour, CreateOptions{Owner: strings.Repeat("o", 201)})
	wantErr(t, "long owner", err, ErrInvalidArgument)
	_, err = a.Create(ctx, time.Hour, CreateOptions{MaxSessions: 2})
	wantErr(t, "MaxSessions without an owner", err, ErrInvalidArgument)
	_, err = a.List(ctx, "")
	wantErr(t, "empty owner", err, ErrInvalidArgument)

	var e *Error
	if !errors.As(err, &e) || e.Msg != "<owner> must have at least one character" {
		t.Fatalf("server text lost: %v", err)
	}
}

func TestRealPassword(t *testing.T) {
	n := startNode(t, "--requirepass", "s3cret")
	ctx := context.Background()
	c, err := New(Config{Addrs: []string{n.Addr}, SignKey: []byte("k"), Password: "s3cret"})
	must(t, err)
	defer c.Close()
	_, err = c.Start(ctx, time.Minute)
	must(t, err)

	for _, pw := range []string{"", "wrong"} {
		bad, err := New(Config{Addrs: []string{n.Addr}, SignKey: []byte("k"), Password: pw})
		must(t, err)
		_, err = bad.Start(ctx, time.Minute)
		wantErr(t, "password "+pw, err, ErrAuth)
		bad.Close()
	}
}

// The bounds a node puts on one session and on its memory reach the caller as kinds.
func TestRealLimits(t *testing.T) {
	n := startNode(t, "--maxmemory", "2mb")
	ctx := context.Background()
	c := realClient(t, "key-limits", 3, n.Addr)
	tok, err := c.Start(ctx, time.Hour)
	must(t, err)
	steps := make([]Update, 10_001)
	for i := range steps {
		steps[i] = Set(fmt.Sprintf("n%d", i), []byte("v"))
	}
	wantErr(t, "10,001 steps", c.PUpdate(ctx, tok, steps...), ErrTooManySteps)
	must(t, c.PUpdate(ctx, tok, steps[:10_000]...))
	wantErr(t, "a payload past 10,000", c.PSet(ctx, tok, "one-more", []byte("v")), ErrPayloadLimit)
	other, err := c.Start(ctx, time.Hour)
	must(t, err)
	var full error
	for i := 0; full == nil && i < 100; i++ {
		full = c.PSet(ctx, other, fmt.Sprintf("big%d", i), make([]byte, 200_000))
	}
	wantErr(t, "past --maxmemory", full, ErrOOM)
	_, err = c.Start(ctx, time.Hour)
	wantErr(t, "a START past --maxmemory", err, ErrOOM)
	must(t, c.End(ctx, other)) // ends still work, and free memory
	_, err = c.Start(ctx, time.Hour)
	must(t, err)
}
