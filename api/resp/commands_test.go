package resp

import (
	"slices"
	"strings"
	"testing"

	"github.com/sessiongate/sessiongate/sessions"
)

// Every SESSIONGATE.* handler but CLUSTER runs one kind of command, and the command table
// (sessions.Kind.Traits) says what it is: COMMAND's write/readonly flag follows Write; a
// pipeline hands it down with others (it has a prep, building a command of that kind) exactly
// when it addresses one session by token (neither Once, OwnerScoped nor Scatter).
func TestSessionHandlersFollowTheCommandTable(t *testing.T) {
	tok := signWith(t, "k", "0123456789abcdef0123456789")
	extra := map[sessions.Kind][]string{
		sessions.KindExpire: {"60"}, sessions.KindIdle: {"60"}, sessions.KindPSet: {"n", "d"},
		sessions.KindPGet: {"n"}, sessions.KindPDel: {"n"}, sessions.KindPUpdate: {"SET", "n", "d"},
	}
	seen := map[sessions.Kind]bool{}
	for name, h := range commands() {
		if !strings.HasPrefix(name, "sessiongate.") || name == "sessiongate.cluster" {
			if h.kind != 0 {
				t.Errorf("%s runs kind %v", name, h.kind)
			}
			continue
		}
		if h.kind == 0 {
			t.Errorf("%s names no kind", name)
			continue
		}
		seen[h.kind] = true
		tr := h.kind.Traits()
		want := "readonly"
		if tr.Write {
			want = "write"
		}
		if !slices.Equal(h.flags, []string{want}) {
			t.Errorf("%s: flags %v, want [%s] (%s's traits %+v)", name, h.flags, want, h.kind, tr)
		}
		byToken := !tr.Once && !tr.OwnerScoped && !tr.Scatter
		if (h.prep != nil) != byToken || (h.fn != nil) == byToken {
			t.Errorf("%s: prepared %v, runs alone %v; %s addresses a session by token: %v", name, h.prep != nil, h.fn != nil, h.kind, byToken)
		}
		if h.prep == nil {
			continue
		}
		args := [][]byte{[]byte(name), []byte("k"), []byte(tok)}
		for _, a := range extra[h.kind] {
			args = append(args, []byte(a))
		}
		cmd, e := h.prep(sessions.NewSigner(nil), args)
		if e != "" || cmd.Kind != h.kind {
			t.Errorf("%s: prep makes a %v command (%q), want %v", name, cmd.Kind, e, h.kind)
		}
	}
	for _, k := range sessions.Kinds() {
		if !seen[k] {
			t.Errorf("no RESP command runs %v", k)
		}
	}
}
