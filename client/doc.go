// Package client is a typed Go client for sessiongate's SESSIONGATE.* commands, over
// go-redis v9.
//
// A Client acts for one tenant: it holds the sign key that signs its tokens and passes it
// with every command. The six commands of the original sessiongate module keep the shapes
// of that module's Go driver (Start, Expire, PSet, PGet, PDel, End); the extended family
// adds owners, idle timeouts, metadata, atomic multi-field updates, rotation, per-owner
// listing and "log out everywhere", and activity counts.
//
//	c, err := client.New(client.Config{
//		Addrs:   []string{"10.0.0.1:6380", "10.0.0.2:6380", "10.0.0.3:6380"},
//		SignKey: []byte(os.Getenv("SESSION_SIGN_KEY")),
//	})
//	tok, err := c.Create(ctx, 24*time.Hour, client.CreateOptions{Owner: "user42", Idle: 30 * time.Minute})
//	err = c.PSet(ctx, tok, "cart", []byte(`{"items":3}`))
//	data, err := c.PGet(ctx, tok, "cart")
//
// Tokens are strings of TokenLen bytes. Durations are sent as whole seconds, rounded up.
//
// # Errors
//
// A failed command returns an *Error carrying the server's text. Match its kind with
// errors.Is: ErrNoSession, ErrBadSignature, ErrWrongKey, ErrBadToken, ErrNoPayload,
// ErrBadPayload (or one of ErrNameEmpty, ErrNameTooLong, ErrDataEmpty, ErrDataTooLong),
// ErrOwnerLimit, ErrInvalidArgument, ErrAuth and ErrTryAgain. A call whose context ends
// matches the context's error instead.
//
// # Failover
//
// Every node serves every command, forwarding to the session's primary when needed. The
// client sends to one node until it fails, then moves to the next in Config.Addrs. A
// command is retried on the next node, after a short jittered backoff and at most
// Config.MaxRetries times, when the node was unreachable or answered TRYAGAIN or
// CLUSTERDOWN, and only if repeating it is safe:
//
//   - PGET, PSET, PDEL, EXPIRE, END, INFO, TTL, PGETALL, PUPDATE, IDLE, LIST, ENDOWNER,
//     ENDALL, ACTIVITY and ACTIVE are retried. Their second run reaches the same state, but
//     its reply may differ from the first's had it been seen: END, or EXPIRE with 0, may
//     report ErrNoSession; PDEL of the last payload may report ErrNoPayload; ENDOWNER and
//     ENDALL count only what the last attempt ended.
//   - START, CREATE and ROTATE are retried only when the connection could not be opened,
//     so the request never left. Once it may have been sent, a retry could mint a second
//     session (or, for ROTATE, end the old token and lose the new one), so the error is
//     returned and the outcome is unknown.
//
// # TLS
//
// Config.TLS makes every connection TLS, for nodes started with --tls-addr. Trust the
// nodes' CA with RootCAs, and give Certificates when they verify clients
// (--tls-auth-clients yes or optional):
//
//	pool := x509.NewCertPool()
//	pool.AppendCertsFromPEM(caPEM) // ca.crt from `sessiongated cert`
//	cert, err := tls.LoadX509KeyPair("certs/client.crt", "certs/client.key")
//	c, err := client.New(client.Config{
//		Addrs:   []string{"10.0.0.1:6390"},
//		SignKey: key,
//		TLS:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
//	})
package client
