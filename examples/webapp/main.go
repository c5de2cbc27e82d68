// Command webapp is a small web site that keeps its logins in sessiongate through package
// httpsession: a login form, a protected page listing the user's devices, a CSRF token kept
// in the session and checked on every POST, logout, "log out everywhere", and token
// rotation.
//
// It is a demo: ANY user name and password are accepted. Run a node and the app:
//
//	go run ./cmd/sessiongated &
//	SESSIONGATE_SIGN_KEY=change-me go run ./examples/webapp --listen 127.0.0.1:8080
//
// then open http://127.0.0.1:8080/. Behind HTTPS, pass --secure-cookie.
package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sessiongate/sessiongate/client"
	"github.com/sessiongate/sessiongate/httpsession"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP listen address")
	nodes := flag.String("nodes", "127.0.0.1:6380", "comma-separated sessiongate node addresses")
	key := flag.String("sign-key", os.Getenv("SESSIONGATE_SIGN_KEY"), "token sign key (default $SESSIONGATE_SIGN_KEY)")
	secure := flag.Bool("secure-cookie", false, "mark the session cookie Secure (serve over HTTPS)")
	flag.Parse()
	if *key == "" {
		log.Fatal("webapp: set --sign-key or SESSIONGATE_SIGN_KEY")
	}

	store, err := client.New(client.Config{Addrs: strings.Split(*nodes, ","), SignKey: []byte(*key)})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	sessions, err := httpsession.New(httpsession.Config{
		Client:      store,
		Cookie:      httpsession.Cookie{Insecure: !*secure},
		TTL:         12 * time.Hour,
		Idle:        30 * time.Minute,
		MaxSessions: 10,
		Evict:       true, // an 11th login ends the oldest device's session
	})
	if err != nil {
		log.Fatal(err)
	}

	srv := &http.Server{Addr: *listen, Handler: newApp(sessions, store), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Printf("webapp: listening on http://%s/ (any user name and password log in)", *listen)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

type app struct {
	sessions *httpsession.Manager
	store    *client.Client
}

// newApp returns the site's handler. Every request passes the session middleware; the
// protected routes also need a session (401 without) and, for POSTs, the CSRF token.
func newApp(sessions *httpsession.Manager, store *client.Client) http.Handler {
	a := &app{sessions: sessions, store: store}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.loginForm)
	mux.HandleFunc("POST /login", a.login)
	mux.Handle("GET /private", sessions.Require(http.HandlerFunc(a.private)))
	mux.Handle("POST /logout", sessions.Require(csrf(a.logout)))
	mux.Handle("POST /logout-everywhere", sessions.Require(csrf(a.logoutEverywhere)))
	mux.Handle("POST /rotate", sessions.Require(csrf(a.rotate)))
	return sessions.Middleware(mux)
}

// csrfPayload is the session payload that holds the CSRF token.
const csrfPayload = "csrf"

func newCSRFToken() []byte {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather)
	return []byte(base64.RawURLEncoding.EncodeToString(b))
}

// csrf checks the form field (or X-CSRF-Token header) against the token in the session.
// A cross-site form post carries the session cookie but cannot read the token.
func csrf(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := httpsession.FromContext(r.Context())
		want, ok, err := s.Get(r.Context(), csrfPayload)
		if err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		got := r.PostFormValue(csrfPayload)
		if got == "" {
			got = r.Header.Get("X-CSRF-Token")
		}
		if !ok || got == "" || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			http.Error(w, "missing or invalid CSRF token", http.StatusForbidden)
			return
		}
		next(w, r)
	})
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s, ok := httpsession.FromContext(r.Context())
	user := ""
	if ok {
		user = s.Owner()
	}
	render(w, homePage, map[string]any{"User": user, "Ended": r.URL.Query().Get("ended")})
}

func (a *app) loginForm(w http.ResponseWriter, r *http.Request) {
	render(w, loginPage, nil)
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	user := r.PostFormValue("user")
	if user == "" || len(user) > 200 {
		w.WriteHeader(http.StatusBadRequest)
		render(w, loginPage, map[string]any{"Error": "Enter a user name of 1 to 200 bytes."})
		return
	}
	// A real site checks r.PostFormValue("password") here. This demo accepts anything.
	_, err := a.sessions.Issue(w, r, user, &httpsession.IssueOptions{
		Payload: map[string][]byte{csrfPayload: newCSRFToken()},
	})
	if err != nil {
		log.Printf("webapp: login: %v", err)
		http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/private", http.StatusSeeOther)
}

func (a *app) private(w http.ResponseWriter, r *http.Request) {
	s, _ := httpsession.FromContext(r.Context())
	token, _, err := s.Get(r.Context(), csrfPayload)
	if err != nil {
		http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
		return
	}
	devices, err := a.store.List(r.Context(), s.Owner())
	if err != nil {
		http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
		return
	}
	for i := range devices {
		devices[i].Token = "" // tokens are credentials: never put them in a page
	}
	render(w, privatePage, map[string]any{
		"User": s.Owner(), "CSRF": string(token), "Info": s.Info(), "Devices": devices,
	})
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.sessions.Clear(w, r); err != nil {
		log.Printf("webapp: logout: %v", err) // the cookie is gone; the session expires anyway
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	n, err := a.sessions.ClearEverywhere(w, r)
	if err != nil {
		http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/?ended="+strconv.Itoa(n), http.StatusSeeOther)
}

// rotate stands for a privilege change (say, re-entering the password before an admin
// action): the session gets a new token, and the CSRF token is renewed with it.
func (a *app) rotate(w http.ResponseWriter, r *http.Request) {
	s, err := a.sessions.Rotate(w, r)
	if err == nil {
		err = s.Set(r.Context(), csrfPayload, newCSRFToken())
	}
	if errors.Is(err, client.ErrNoSession) {
		http.Redirect(w, r, "/login", http.StatusSeeOther) // ended meanwhile, elsewhere
		return
	}
	if err != nil {
		http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/private", http.StatusSeeOther)
}
