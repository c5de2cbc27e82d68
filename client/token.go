package client

// TokenLen is the length of every token: "v1." + 16-character id + "." + 64 hex digits.
const TokenLen = 84

// ValidToken reports whether s has a token's form (v1.<id>.<sig>). It checks no signature:
// it lets a caller such as an HTTP middleware turn garbage away without a round trip, and
// the server still refuses a well-formed forgery with ErrBadSignature.
func ValidToken(s string) bool {
	if len(s) != TokenLen || s[:3] != "v1." || s[19] != '.' {
		return false
	}
	for i := 3; i < 19; i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	for i := 20; i < TokenLen; i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
