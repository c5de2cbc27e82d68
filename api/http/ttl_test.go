package httpapi

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
)

// countingBackend counts the EXPIREs the gateway sends (its renewals); with predates set it
// plays a primary that predates describe flags and answers every INFO plainly.
type countingBackend struct {
	Backend
	predates bool
	expires  atomic.Int64
}

func (b *countingBackend) Do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error) {
	if cmd.Kind == sessions.KindExpire {
		b.expires.Add(1)
	}
	if b.predates && cmd.Kind == sessions.KindInfo {
		plain := *cmd
		plain.Limit = 0
		cmd = &plain
	}
	return b.Backend.Do(ctx, cmd)
}

// gateway is one node's REST API over a counting backend.
type gateway struct {
	n   *node.Node
	b   *countingBackend
	url string // the app's base URL
}

func newGateway(t *testing.T, n *node.Node, predates bool) *gateway {
	t.Helper()
	m := NewMetrics(n)
	b := &countingBackend{Backend: m.Instrument(n), predates: predates}
	ts := httptest.NewServer(New(Config{Apps: map[string][]byte{"mywebapp": []byte("secret")}}, n, m, b).Handler())
	t.Cleanup(ts.Close)
	return &gateway{n: n, b: b, url: ts.URL + "/mywebapp"}
}

func newNodeGateway(t *testing.T, predates bool) *gateway {
	t.Helper()
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	return newGateway(t, n, predates)
}

// slidingSession makes, straight through the node, a session as the gateway makes one but
// with a ttl below the REST minimum of 10 s, so that tests of renewal and idle expiry need
// only a few seconds. It returns the session's token.
func slidingSession(t *testing.T, n *node.Node, owner string, ttl uint32) string {
	t.Helper()
	sg := sessions.NewSigner([]byte("secret"))
	id, err := sessions.NewID(rand.Reader, sessions.OwnerSlot(sg.Tenant(), []byte(owner)))
	if err != nil {
		t.Fatal(err)
	}
	cmd := sessions.Command{Kind: sessions.KindStart, Tenant: sg.Tenant(), ID: id, NewMAC: sg.MAC(id),
		TTL: int64(ttl) * renewAhead, Idle: ttl, Owner: []byte(owner), IP: []byte("10.0.0.1")}
	if _, err := n.Do(context.Background(), &cmd); err != nil {
		t.Fatal(err)
	}
	return string(sessions.AppendTokenMAC(nil, id, &cmd.NewMAC))
}

// keepAlive reads a session through the gateways in turn every half second for the given
// time, which must pass its first absolute deadline: every read must find it, count exactly
// one read, and renewals must be rare. It returns when the last read was sent and answered:
// the session's last access lies between the two.
func keepAlive(t *testing.T, gws []*gateway, tok string, ttl uint32, d time.Duration) (sent, answered time.Time) {
	t.Helper()
	start, reads := time.Now(), int64(0)
	for time.Since(start) < d {
		g := gws[reads%int64(len(gws))]
		sent = time.Now()
		code, body := request(t, "GET", g.url+"/get/"+tok, "")
		answered = time.Now()
		reads++
		if code != 200 || num(body, "r") != reads || num(body, "ttl") != int64(ttl) {
			t.Fatalf("read %d after %v, through gateway %d: %d %v", reads, time.Since(start), reads%int64(len(gws)), code, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var renewals int64
	for _, g := range gws {
		renewals += g.b.expires.Load()
	}
	// Past the first absolute deadline only renewals kept it; they come at most once per
	// half ttl of activity.
	if most := int64(time.Since(start)/(time.Duration(ttl)*time.Second/2)) + 1; renewals < 1 || renewals > most {
		t.Fatalf("%d renewals for %d reads over %v, want 1..%d", renewals, reads, time.Since(start), most)
	}
	return sent, answered
}

// expiresOnTime checks that a session left alone since its last access (between sent and
// answered) is still there a second before its ttl is up (listing is no access), and gone
// through every gateway once it is. A listing answered after the ttl proves nothing (a
// loaded machine may sleep late): it is only logged.
func expiresOnTime(t *testing.T, gws []*gateway, tok, owner string, ttl uint32, sent, answered time.Time) {
	t.Helper()
	life := time.Duration(ttl) * time.Second
	time.Sleep(time.Until(sent.Add(life - time.Second)))
	code, body := request(t, "GET", gws[0].url+"/soid/"+owner, "")
	switch listed := code == 200 && len(body["sessions"].([]any)) == 1; {
	case !listed && time.Since(sent) < life:
		t.Fatalf("idle session gone before its ttl: %d %v", code, body)
	case !listed:
		t.Logf("listing answered %v after the last access, past the ttl: inconclusive", time.Since(sent))
	}
	time.Sleep(time.Until(answered.Add(life + 300*time.Millisecond)))
	for i, g := range gws {
		if code, body := request(t, "GET", g.url+"/get/"+tok, ""); code != 404 {
			t.Fatalf("idle session still there through gateway %d past its ttl: %d %v", i, code, body)
		}
	}
}

// A session read every half second outlives its first absolute deadline; left alone it
// ends ttl after its last read.
func TestRESTSlidingTTL(t *testing.T) {
	t.Parallel()
	g := newNodeGateway(t, false)
	tok := slidingSession(t, g.n, "alice", 4)
	sent, answered := keepAlive(t, []*gateway{g}, tok, 4, 9*time.Second)
	expiresOnTime(t, []*gateway{g}, tok, "alice", 4, sent, answered)
}

// Through REST with the minimum ttl of 10 s: idle is the time since the previous access, a
// sliding session outlives its ttl when read, and a no_resave one does not; its ttl counts
// down.
func TestRESTIdleAndNoResave(t *testing.T) {
	t.Parallel()
	g := newNodeGateway(t, false)
	_, body := request(t, "PUT", g.url+"/create/bob?ip=10.0.0.2&ttl=10", "")
	slide := body["token"].(string)
	_, body = request(t, "PUT", g.url+"/create/bob?ip=10.0.0.2&ttl=10&no_resave=true", "")
	fixed := body["token"].(string)
	created := time.Now()
	for round := int64(1); round <= 2; round++ {
		time.Sleep(3 * time.Second)
		code, body := request(t, "GET", g.url+"/get/"+slide, "")
		if code != 200 || num(body, "idle") < 3 || num(body, "idle") >= 10 || num(body, "ttl") != 10 || num(body, "r") != round {
			t.Fatalf("sliding, round %d: %d %v", round, code, body)
		}
		code, body = request(t, "GET", g.url+"/get/"+fixed, "")
		if left := 10 - int64(time.Since(created)/time.Second); code != 200 || body["no_resave"] != true ||
			num(body, "ttl") > left+1 || num(body, "idle") < 3 {
			t.Fatalf("no_resave, round %d: %d %v", round, code, body)
		}
	}
	time.Sleep(time.Until(created.Add(10*time.Second + 300*time.Millisecond)))
	if code, body := request(t, "GET", g.url+"/get/"+fixed, ""); code != 404 {
		t.Fatalf("no_resave session outlived its ttl: %d %v", code, body)
	}
	if code, body := request(t, "GET", g.url+"/get/"+slide, ""); code != 200 || num(body, "idle") < 3 {
		t.Fatalf("sliding session lapsed: %d %v", code, body)
	}
	// Three reads over 10 s: the deadline starts two ttls ahead, and a read renews it only
	// once it is less than 1.5 ttls away (after half a ttl, at the read at 6 s).
	if n := g.b.expires.Load(); n < 1 || n > 2 {
		t.Fatalf("%d renewals for three reads in one ttl, want 1 or 2", n)
	}
}

// Against a primary that predates describe flags, a get still shows the session's data and
// renews the deadline it cannot see.
func TestRESTWithAPrimaryThatPredatesDescribe(t *testing.T) {
	g := newNodeGateway(t, true)
	_, body := request(t, "PUT", g.url+"/create/carol?ip=10.0.0.3", `{"cart":3}`)
	tok := body["token"].(string)
	code, body := request(t, "GET", g.url+"/get/"+tok, "")
	if d, _ := body["d"].(map[string]any); code != 200 || d["cart"] != 3.0 || g.b.expires.Load() != 1 {
		t.Fatalf("get: %d %v, %d renewals", code, body, g.b.expires.Load())
	}
}
