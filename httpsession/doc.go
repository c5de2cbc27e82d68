// Package httpsession keeps net/http sessions in sessiongate and carries their tokens in a
// cookie.
//
// A Manager issues a session on login (Issue), loads it on every request (Middleware, or
// Require to answer 401 without one), extends it (Extend), rotates its token when
// privileges change (Rotate), and ends it on logout (Clear) or ends all of the user's
// sessions at once (ClearEverywhere). Handlers find the session with FromContext and keep
// small per-session data in its payloads (Get, Set, GetJSON, SetJSON, Update).
//
//	sc, _ := client.New(client.Config{Addrs: nodes, SignKey: key})
//	sessions, _ := httpsession.New(httpsession.Config{Client: sc, TTL: 12 * time.Hour, Idle: 30 * time.Minute})
//
//	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
//		// ... check the password ...
//		if _, err := sessions.Issue(w, r, userID, nil); err != nil { ... }
//	})
//	mux.Handle("/account", sessions.Require(accountPage))
//	http.ListenAndServe(addr, sessions.Middleware(mux))
//
// A cookie that is malformed, forged, signed for another tenant, ended or expired is the
// same as no cookie: the request goes on without a session (and the stale cookie is
// expired), never a 500. Only a store that cannot answer stops a request, through
// Config.ErrorHandler (503 by default). A request without a session cookie never touches
// the store. Loading a session costs one round trip (SESSIONGATE.INFO), which also
// refreshes its idle timeout.
//
// The cookie is HttpOnly, Secure and SameSite=Lax unless Config.Cookie says otherwise,
// and its Max-Age follows the session's lifetime.
package httpsession
