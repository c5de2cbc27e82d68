package resp

import (
	"testing"

	"github.com/sessiongate/sessiongate/sessions"
)

// signWith makes a token for id under key, as a client holding the key could.
func signWith(t *testing.T, key, id string) string {
	t.Helper()
	var sid sessions.ID
	copy(sid[:], id)
	return string(sessions.NewSigner([]byte(key)).AppendToken(nil, sid))
}
