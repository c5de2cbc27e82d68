package main

import (
	"io"
	"net"
	"net/http"
	"testing"
)

// The profile listener serves Go's profiles and nothing else.
func TestPprofListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go servePprof(ln)
	base := "http://" + ln.Addr().String()
	for path, want := range map[string]int{"/debug/pprof/cmdline": 200, "/debug/pprof/": 200, "/": 404, "/metrics": 404} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	o, err := parseFlags([]string{"--pprof-addr", "127.0.0.1:6060"}, io.Discard)
	if err != nil || o.pprofAddr != "127.0.0.1:6060" {
		t.Fatalf("--pprof-addr: %+v %v", o, err)
	}
}
