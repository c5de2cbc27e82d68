package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// accessTokens holds the SHA-256 digest of each app's access token. Comparing digests of a
// fixed length in constant time tells an attacker neither a token's bytes nor its length.
type accessTokens map[string][32]byte

func newAccessTokens(tokens map[string]string) accessTokens {
	out := accessTokens{}
	for app, tok := range tokens {
		out[app] = sha256.Sum256([]byte(tok))
	}
	return out
}

// allows reports whether r may act for app: the app has no token, or r carries it as
// "Authorization: Bearer <token>".
func (t accessTokens) allows(app string, r *http.Request) bool {
	want, ok := t[app]
	if !ok {
		return true
	}
	scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
