package resp

import (
	"strings"
	"testing"
	"time"
)

// A suite written the way the original module's tests are: every reply and error byte for
// byte, in the module's order of checks.
func TestModuleCompatibility(t *testing.T) {
	_, addr := startServer(t, Config{})
	r := dialRaw(t, addr)
	tok := r.do("SESSIONGATE.START", "qwerty", "300")
	if len(tok) != 84 || !strings.HasPrefix(tok, "v1.") {
		t.Fatalf("token %q", tok)
	}
	other := r.do("SESSIONGATE.START", "asdfgh", "300")
	// Correctly signed with key "asdfgh", but naming the session key "qwerty" started.
	forged := tok[:19] + "." + other[20:]
	forgedSigned := signWith(t, "asdfgh", tok[3:19])
	long := strings.Repeat("n", 201)
	bigData := strings.Repeat("d", 8_000_001)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"SESSIONGATE.START", "", "10"}, "-<sign_key> must have at least one character"},
		{[]string{"SESSIONGATE.START", "k", ""}, "-<ttl> must be a valid integer that represents seconds"},
		{[]string{"SESSIONGATE.START", "k", "-1"}, "-<ttl> must be a valid integer that represents seconds"},
		{[]string{"SESSIONGATE.START", "k", "1.5"}, "-<ttl> must be a valid integer that represents seconds"},
		{[]string{"SESSIONGATE.START", "k", "+5"}, "-<ttl> must be a valid integer that represents seconds"},
		{[]string{"SESSIONGATE.START", "k"}, "-ERR wrong number of arguments for 'sessiongate.start' command"},
		{[]string{"SESSIONGATE.START", "k", "1", "2"}, "-ERR wrong number of arguments for 'sessiongate.start' command"},
		{[]string{"SESSIONGATE.EXPIRE", "", "", "x"}, "-<sign_key> must have at least one character"},
		{[]string{"SESSIONGATE.EXPIRE", "qwerty", "", "x"}, "-<token> must have at least one character"},
		{[]string{"SESSIONGATE.EXPIRE", "qwerty", "short", "x"}, "-<token> format is invalid"},
		{[]string{"SESSIONGATE.EXPIRE", "qwerty", "v2" + tok[2:], "x"}, "-<token> format is invalid"},
		{[]string{"SESSIONGATE.EXPIRE", "qwerty", tok[:2] + "x" + tok[3:], "x"}, "-<token> format is invalid"},
		{[]string{"SESSIONGATE.EXPIRE", "qwerty", forged, "x"}, "-<ttl> must be a valid integer that represents seconds"},
		{[]string{"SESSIONGATE.EXPIRE", "qwerty", forged, "10"}, "-the signature contained in <token> is invalid"},
		{[]string{"SESSIONGATE.EXPIRE", "asdfgh", forgedSigned, "10"}, "-the signature contained in <token> seems to be valid, but is different from the stored signature in the session"},
		{[]string{"SESSIONGATE.PSET", "qwerty", tok, "", "x"}, "-<payload_name> must have at least one character"},
		{[]string{"SESSIONGATE.PSET", "qwerty", tok, long, "x"}, "-<payload_name> length exceeds the maximum value allowed of 200"},
		{[]string{"SESSIONGATE.PSET", "qwerty", tok, "n", ""}, "-<payload_data> must have at least one character"},
		{[]string{"SESSIONGATE.PSET", "qwerty", tok, "n", bigData}, "-<payload_data> length exceeds the maximum value allowed of 8000000"},
		{[]string{"SESSIONGATE.PDEL", "qwerty", tok, "user"}, "-the requested <payload_name> does not exist"},
		{[]string{"SESSIONGATE.PGET", "qwerty", tok[:20] + strings.ToUpper(tok[20:]), "user"}, "-the signature contained in <token> is invalid"},
		{[]string{"SESSIONGATE.PSET", "qwerty", forged, "user", "forged"}, "-the signature contained in <token> is invalid"},
		{[]string{"SESSIONGATE.PSET", "qwerty", tok, "user", "{}"}, "+OK"},
		{[]string{"SESSIONGATE.PGET", "qwerty", tok, "user"}, "{}"},
		{[]string{"SESSIONGATE.PDEL", "qwerty", tok, "nope"}, "+OK"}, // the module's quirk, kept
		{[]string{"SESSIONGATE.PGET", "qwerty", tok, "nope"}, "-the requested <payload_name> does not exist"},
		{[]string{"SESSIONGATE.PDEL", "qwerty", tok, "user"}, "+OK"},
		{[]string{"SESSIONGATE.EXPIRE", "qwerty", tok, "100"}, "+OK"},
		{[]string{"SESSIONGATE.TTL", "qwerty", tok}, ":100"},
		{[]string{"sessiongate.end", "qwerty", tok}, "+OK"},
		{[]string{"SESSIONGATE.END", "qwerty", tok}, "-the session id contained in <token> does not exist"},
		{[]string{"SESSIONGATE.PGET", "qwerty", tok, "user"}, "-the session id contained in <token> does not exist"},
		{[]string{"SESSIONGATE.PGET", "qwerty", forged, "user"}, "-the signature contained in <token> is invalid"},
		{[]string{"SESSIONGATE.EXPIRE", "qwerty", other, "0"}, "-the signature contained in <token> is invalid"},
		{[]string{"SESSIONGATE.EXPIRE", "asdfgh", other, "0"}, "+OK"},
		{[]string{"SESSIONGATE.PGET", "asdfgh", other, "x"}, "-the session id contained in <token> does not exist"},
		{[]string{"SESSIONGATE.CREATE", "k", "10", "OWNER"}, "-ERR syntax error"},
		{[]string{"SESSIONGATE.CREATE", "k", "10", "OWNER", ""}, "-<owner> must have at least one character"},
		{[]string{"SESSIONGATE.CREATE", "k", "10", "EVICT"}, "-ERR syntax error"},
		{[]string{"SESSIONGATE.ACTIVITY", "k", "x"}, "-<seconds> must be a valid integer that represents seconds"},
		{[]string{"SESSIONGATE.ENDALL", "k"}, ":0"},
	}
	for _, c := range cases {
		got := r.do(c.args...)
		if got != c.want {
			a := strings.Join(c.args, " ")
			if len(a) > 120 {
				a = a[:120] + "..."
			}
			t.Errorf("%s\n got %q\nwant %q", a, got, c.want)
		}
	}
	// The same checks hold for a pipeline, whose commands run together: a forged token in the
	// middle is refused, and the writes around it stand.
	live := r.do("SESSIONGATE.START", "qwerty", "300")
	r.send("SESSIONGATE.PSET", "qwerty", live, "a", "1")
	r.send("SESSIONGATE.PSET", "qwerty", live[:20]+strings.ToUpper(live[20:]), "a", "forged")
	r.send("SESSIONGATE.PSET", "qwerty", live[:19]+"."+other[20:], "a", "forged")
	r.send("SESSIONGATE.PGET", "qwerty", live, "a")
	for i, want := range []string{"+OK", "-the signature contained in <token> is invalid", "-the signature contained in <token> is invalid", "$1", "1"} {
		if got := r.line(); got != want {
			t.Fatalf("pipelined reply %d = %q, want %q", i, got, want)
		}
	}
	// ttl 0 at START hands out a token for a session that is already over.
	dead := r.do("SESSIONGATE.START", "qwerty", "0")
	if got := r.do("SESSIONGATE.PGET", "qwerty", dead, "x"); got != "-the session id contained in <token> does not exist" {
		t.Fatalf("ttl 0: %q", got)
	}
	// Expiry by time.
	short := r.do("SESSIONGATE.START", "qwerty", "1")
	r.do("SESSIONGATE.PSET", "qwerty", short, "a", "b")
	time.Sleep(1100 * time.Millisecond)
	if got := r.do("SESSIONGATE.PGET", "qwerty", short, "a"); got != "-the session id contained in <token> does not exist" {
		t.Fatalf("after ttl: %q", got)
	}
}

func TestExtendedCommandsOverRESP(t *testing.T) {
	_, addr := startServer(t, Config{})
	r := dialRaw(t, addr)
	a1 := r.do("SESSIONGATE.CREATE", "k", "600", "OWNER", "bob", "MAXSESSIONS", "2", "EVICT")
	a2 := r.do("SESSIONGATE.CREATE", "k", "600", "OWNER", "bob", "IDLE", "60", "UA", "curl")
	if got := r.do("SESSIONGATE.CREATE", "k", "600", "OWNER", "bob", "MAXSESSIONS", "2"); got != "-the owner already has the maximum of 2 sessions" {
		t.Fatalf("refuse: %q", got)
	}
	a3 := r.do("SESSIONGATE.CREATE", "k", "600", "OWNER", "bob", "MAXSESSIONS", "2", "EVICT")
	if got := r.do("SESSIONGATE.TTL", "k", a1); !strings.HasPrefix(got, "-the session id") {
		t.Fatalf("evicted oldest still there: %q", got)
	}
	if got := r.do("SESSIONGATE.PUPDATE", "k", a2, "SET", "x", "1", "SET", "y", "2", "DEL", "x"); got != "+OK" {
		t.Fatalf("pupdate: %q", got)
	}
	if got := r.do("SESSIONGATE.PUPDATE", "k", a2, "SET", "x"); got != "-ERR syntax error" {
		t.Fatalf("pupdate syntax: %q", got)
	}
	if got := r.do("SESSIONGATE.PGET", "k", a2, "y"); got != "2" {
		t.Fatalf("after pupdate: %q", got)
	}
	if got := r.do("SESSIONGATE.TTL", "k", a2); got != ":60" {
		t.Fatalf("idle ttl: %q", got)
	}
	rot := r.do("SESSIONGATE.ROTATE", "k", a2)
	if len(rot) != 84 || rot == a2 {
		t.Fatalf("rotate: %q", rot)
	}
	if got := r.do("SESSIONGATE.PGET", "k", rot, "y"); got != "2" {
		t.Fatalf("rotated data: %q", got)
	}
	r.send("SESSIONGATE.LIST", "k", "bob")
	if got := r.line(); got != "*2" {
		t.Fatalf("LIST: %q", got)
	}
	r.line() // *24: token + 11 pairs
	r.line()
	if got := r.line(); got != "token" {
		t.Fatalf("LIST entry starts with %q", got)
	}
	r2 := dialRaw(t, addr) // a fresh connection: the rest of the LIST reply is unread on r
	if got := r2.do("SESSIONGATE.ACTIVITY", "k", "60"); got != ":1" {
		t.Fatalf("activity: %q", got)
	}
	if got := r2.do("SESSIONGATE.ENDOWNER", "k", "bob"); got != ":2" {
		t.Fatalf("endowner: %q", got)
	}
	if got := r2.do("SESSIONGATE.TTL", "k", a3); !strings.HasPrefix(got, "-the session id") {
		t.Fatalf("after endowner: %q", got)
	}
}
