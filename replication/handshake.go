package replication

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/sessiongate/sessiongate/clusterkey"
)

// Security says how links prove that both ends are members and how their bytes are kept.
// A link authenticates with the newest cluster secret both ends hold (a challenge and
// response over fresh nonces from both, so that recorded bytes replayed get nothing) and,
// without TLS, is encrypted with keys derived from that secret and the handshake. With TLS,
// both ends present certificates their CA pools verify. The zero value is an insecure link,
// which only an insecure peer accepts.
type Security struct {
	// Name is this node's name, told to the peer during the handshake.
	Name string
	// Keys are the cluster secrets this node holds, newest first.
	Keys []clusterkey.Key
	// ServerTLS, if set, makes accepted links mutual TLS (it must require client certificates).
	ServerTLS *tls.Config
	// ClientTLS, if set, makes dialled links mutual TLS; ServerName is set from each peer's host.
	ClientTLS *tls.Config
	// AcceptInsecure also accepts links without a handshake, and PlainTo names the peers to
	// dial so: a cluster moving from no secret to one has both kinds of node for a while.
	AcceptInsecure bool
	PlainTo        func(addr string) bool
}

// ErrHandshake is wrapped by every failed handshake.
var ErrHandshake = errors.New("replication: handshake failed")

// The handshake, before any frame, on every link but an insecure one:
//
//	client: magic, nonce(32), name length(1), name, key count(1), key IDs(8 each, newest first)
//	server: magic, mode(1), nonce(32), name length(1), name, and when mode is keyed:
//	        the chosen key ID(8), proof(32) = HMAC(auth key, "server" | transcript)
//	client: when keyed, proof(32) = HMAC(auth key, "client" | transcript)
//
// The transcript is the SHA-256 of both hellos up to the server's proof; the auth key and the
// two traffic keys are derived from the chosen secret, the traffic keys with the transcript
// as salt, so every link has keys of its own.
//
// An insecure link (no secret, no TLS on either end) has no handshake: it speaks the frames of
// nodes older than the handshake, so that a cluster without a secret can be upgraded by a
// rolling restart. The server tells the two apart by their first four bytes: the magic, read
// as a frame's length, is far over any frame's bound.
const (
	magic      = "SGR1"
	nonceLen   = 32
	proofLen   = sha256.Size
	modeOpen   = 0 // neither end proves a secret (insecure, or TLS alone)
	modeKeyed  = 1
	maxNameLen = 255
)

// link is what a finished handshake leaves: the connection to read and write, the peer's
// name, and for a keyed link without TLS, the ciphers of both directions.
type link struct {
	c    net.Conn
	peer string
	seal *sealer
	recv cipher.AEAD
	// early holds bytes read while telling a handshake from a frame: the start of the first
	// frame of an insecure link.
	early []byte
}

func (s *Security) keyed() bool { return s != nil && len(s.Keys) > 0 }

// insecure reports whether this end neither proves nor checks anything.
func (s *Security) insecure() bool {
	return s == nil || len(s.Keys) == 0 && s.ServerTLS == nil && s.ClientTLS == nil
}

// dial runs the client side of the handshake on a fresh connection to addr.
func (s *Security) dial(ctx context.Context, c net.Conn, addr string) (link, error) {
	if s.insecure() || s.PlainTo != nil && s.PlainTo(addr) {
		return link{c: c}, nil
	}
	defer guard(ctx, c)()
	if s.ClientTLS != nil {
		cfg := s.ClientTLS.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil && cfg.ServerName == "" {
			cfg.ServerName = host
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return link{}, fmt.Errorf("%w: tls: %w", ErrHandshake, err)
		}
		c = tc
	}
	name, keys := s.Name, s.Keys // s is not nil: a nil Security is insecure
	hello := make([]byte, 0, 4+nonceLen+2+len(name)+len(keys)*clusterkey.IDLen)
	hello = append(hello, magic...)
	hello = appendNonce(hello)
	hello = appendName(hello, name)
	hello = append(hello, byte(len(keys)))
	for _, k := range keys {
		id := k.ID()
		hello = append(hello, id[:]...)
	}
	if _, err := c.Write(hello); err != nil {
		return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	r := &recorder{r: c}
	if err := r.expect(magic); err != nil {
		return link{}, fmt.Errorf("%w: %w (the peer may hold none of this node's cluster secrets, or be insecure)", ErrHandshake, err)
	}
	mode, err := r.byte()
	if err != nil {
		return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if _, err := r.take(nonceLen); err != nil {
		return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	peer, err := r.name()
	if err != nil {
		return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	switch {
	case mode == modeOpen && len(keys) == 0:
		return link{c: c, peer: peer}, nil
	case mode != modeKeyed || len(keys) == 0:
		return link{}, fmt.Errorf("%w: %s answered in mode %d; this node holds %d secrets", ErrHandshake, addr, mode, len(keys))
	}
	idb, err := r.take(clusterkey.IDLen)
	if err != nil {
		return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	key, ok := clusterkey.Find(keys, clusterkey.ID(idb))
	if !ok {
		return link{}, fmt.Errorf("%w: %s chose a secret this node does not hold", ErrHandshake, addr)
	}
	transcript := transcriptOf(hello, r.seen)
	proof, err := io.ReadAll(io.LimitReader(c, proofLen))
	if err != nil || len(proof) != proofLen {
		return link{}, fmt.Errorf("%w: short proof from %s", ErrHandshake, addr)
	}
	auth := key.Derive("repl auth v1", nil, 32)
	if !hmac.Equal(proof, prove(auth, "server", transcript)) {
		return link{}, fmt.Errorf("%w: %s does not hold the secret it chose", ErrHandshake, addr)
	}
	if _, err := c.Write(prove(auth, "client", transcript)); err != nil {
		return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return keyedLink(c, peer, key, transcript, "c2s", "s2c", s.ClientTLS != nil)
}

// accept runs the server side of the handshake on an accepted connection.
func (s *Security) accept(ctx context.Context, c net.Conn) (link, error) {
	defer guard(ctx, c)()
	if s != nil && s.ServerTLS != nil {
		tc := tls.Server(c, s.ServerTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return link{}, fmt.Errorf("%w: tls: %w", ErrHandshake, err)
		}
		c = tc
	}
	r := &recorder{r: c}
	first, err := r.take(len(magic))
	if err != nil {
		return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if string(first) != magic {
		if s.insecure() || s.AcceptInsecure {
			return link{c: c, early: first}, nil // a peer as insecure as this node allows
		}
		return link{}, fmt.Errorf("%w: no handshake (an insecure node, or not a sessiongate peer: first bytes %q)", ErrHandshake, first)
	}
	if _, err := r.take(nonceLen); err != nil {
		return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	peer, err := r.name()
	if err != nil {
		return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	n, err := r.byte()
	if err != nil {
		return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if n > clusterkey.MaxKeys {
		return link{}, fmt.Errorf("%w: %d key ids offered", ErrHandshake, n)
	}
	var offered []clusterkey.ID
	for range n {
		b, err := r.take(clusterkey.IDLen)
		if err != nil {
			return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
		}
		offered = append(offered, clusterkey.ID(b))
	}
	hello := r.seen
	var name string
	if s != nil {
		name = s.Name
	}
	reply := append([]byte(magic), modeOpen)
	reply = appendNonce(reply)
	reply = appendName(reply, name)
	if !s.keyed() {
		if _, err := c.Write(reply); err != nil {
			return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
		}
		return link{c: c, peer: peer}, nil
	}
	// The client lists its secrets newest first: the first this node holds is the newest
	// both hold.
	var key clusterkey.Key
	found := false
	for _, id := range offered {
		if key, found = clusterkey.Find(s.Keys, id); found {
			break
		}
	}
	if !found {
		return link{}, fmt.Errorf("%w: no cluster secret in common (%d offered)", ErrHandshake, len(offered))
	}
	reply[len(magic)] = modeKeyed
	id := key.ID()
	reply = append(reply, id[:]...)
	transcript := transcriptOf(hello, reply)
	auth := key.Derive("repl auth v1", nil, 32)
	if _, err := c.Write(append(reply, prove(auth, "server", transcript)...)); err != nil {
		return link{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	proof, err := io.ReadAll(io.LimitReader(c, proofLen))
	if err != nil || len(proof) != proofLen {
		return link{}, fmt.Errorf("%w: short proof", ErrHandshake)
	}
	if !hmac.Equal(proof, prove(auth, "client", transcript)) {
		return link{}, fmt.Errorf("%w: wrong proof (not a holder of the secret, or replayed bytes)", ErrHandshake)
	}
	return keyedLink(c, peer, key, transcript, "s2c", "c2s", s.ServerTLS != nil)
}

// keyedLink finishes a keyed link: over TLS the secret only authenticated it; otherwise
// its records are sealed with the traffic keys.
func keyedLink(c net.Conn, peer string, key clusterkey.Key, transcript []byte, out, in string, overTLS bool) (link, error) {
	if overTLS {
		return link{c: c, peer: peer}, nil
	}
	sa, err := newAEAD(key.Derive("repl "+out+" v1", transcript, 32))
	if err != nil {
		return link{}, err
	}
	oa, err := newAEAD(key.Derive("repl "+in+" v1", transcript, 32))
	if err != nil {
		return link{}, err
	}
	return link{c: c, peer: peer, seal: &sealer{aead: sa}, recv: oa}, nil
}

// guard makes the handshake end with ctx (its deadline, or the node stopping); the returned
// function lifts it once the handshake is over.
func guard(ctx context.Context, c net.Conn) func() {
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	return func() {
		stop()
		c.SetDeadline(time.Time{})
	}
}

func appendNonce(b []byte) []byte {
	var n [nonceLen]byte
	rand.Read(n[:])
	return append(b, n[:]...)
}

func appendName(b []byte, name string) []byte {
	if len(name) > maxNameLen {
		name = name[:maxNameLen]
	}
	return append(append(b, byte(len(name))), name...)
}

func transcriptOf(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func prove(auth []byte, role string, transcript []byte) []byte {
	m := hmac.New(sha256.New, auth)
	m.Write([]byte(role))
	m.Write(transcript)
	return m.Sum(nil)
}

// recorder reads the peer's hello field by field, exactly (nothing past it is read), and
// keeps the bytes for the transcript. Every field has a fixed or one-byte length, so a
// hello is at most a few hundred bytes.
type recorder struct {
	r    io.Reader
	seen []byte
}

func (h *recorder) take(n int) ([]byte, error) {
	start := len(h.seen)
	h.seen = append(h.seen, make([]byte, n)...)
	if _, err := io.ReadFull(h.r, h.seen[start:]); err != nil {
		return nil, err
	}
	return h.seen[start:], nil
}

func (h *recorder) byte() (byte, error) {
	b, err := h.take(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (h *recorder) expect(m string) error {
	b, err := h.take(len(m))
	if err != nil {
		return err
	}
	if !bytes.Equal(b, []byte(m)) {
		return fmt.Errorf("not a sessiongate replication peer (first bytes %q)", b)
	}
	return nil
}

func (h *recorder) name() (string, error) {
	n, err := h.byte()
	if err != nil {
		return "", err
	}
	b, err := h.take(int(n))
	return string(b), err
}
