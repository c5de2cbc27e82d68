package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/internal/devcert"
	"github.com/sessiongate/sessiongate/replication"
)

// writeFile writes a file only its owner can read, as secrets and keys must be.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Real processes with a cluster secret, and with peer TLS from a CA of their own: the
// cluster forms and serves through every node, a node without the credential never counts,
// and a stranger on a replication port is refused and logged.
func TestSecuredClusterOfProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", []byte("integration-secret-0123456789\n"))
	other := writeFile(t, dir, "other", []byte("someone-elses-secret-0123456789\n"))
	ca, err := devcert.NewCA("integration", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rogueCA, err := devcert.NewCA("rogue", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile := writeFile(t, dir, "ca.crt", ca.CertPEM())
	tlsFlags := func(ca *devcert.CA, name string) []string {
		leaf, err := ca.Issue(name, []string{"127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13"}, devcert.Server|devcert.Client, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return []string{"--peer-tls-cert-file", writeFile(t, dir, name+".crt", leaf.CertPEM),
			"--peer-tls-key-file", writeFile(t, dir, name+".key", leaf.KeyPEM), "--peer-tls-ca-file", caFile}
	}
	for _, mode := range []struct {
		name          string
		member, rogue func(i int) []string
	}{
		{"secret",
			func(int) []string { return []string{"--cluster-secret-file", secret} },
			func(int) []string { return []string{"--cluster-secret-file", other} }},
		{"peer TLS",
			func(i int) []string { return tlsFlags(ca, fmt.Sprintf("n%d", i)) },
			func(i int) []string { return tlsFlags(rogueCA, fmt.Sprintf("n%d", i)) }},
	} {
		t.Run(mode.name, func(t *testing.T) {
			c := newCluster(t)
			for i := range 3 {
				c.start(i, mode.member(i)...)
			}
			c.waitMembers(3)
			ctx := context.Background()
			n0, n2 := c.procs["n0"], c.procs["n2"]
			tok, err := n0.client.Do(ctx, "SESSIONGATE.START", "it-key", 3600).Text()
			if err != nil {
				t.Fatal(err)
			}
			if err := n0.client.Do(ctx, "SESSIONGATE.PSET", "it-key", tok, "v", "hello").Err(); err != nil {
				t.Fatal(err)
			}

			rogue := c.start(3, mode.rogue(3)...)
			stranger := replication.NewClient(replication.ClientConfig{})
			defer stranger.Close()
			replAddr := fmt.Sprintf("%s:%d", n2.ip, c.port+2) // gossip port + 1
			// The stranger sends frames as an insecure node would; the member closes the link.
			if err := stranger.Call(ctx, replAddr, 1, nil, nil); !errors.Is(err, replication.ErrUnavailable) {
				t.Fatalf("a stranger on %s: %v, want the link closed", replAddr, err)
			}
			time.Sleep(3 * time.Second) // gossip rounds in which the rogue would be counted
			for _, p := range []*proc{n0, c.procs["n1"], n2} {
				res, err := p.client.Do(ctx, "SESSIONGATE.CLUSTER", "MEMBERS").Slice()
				if err != nil || len(res) != 3 {
					t.Fatalf("%s counts %d members (%v) with a rogue node about", p.name, len(res), err)
				}
			}
			if res, _ := rogue.client.Do(ctx, "SESSIONGATE.CLUSTER", "MEMBERS").Slice(); len(res) != 1 {
				t.Fatalf("the rogue counts %d members", len(res))
			}
			got, err := n2.client.Do(ctx, "SESSIONGATE.PGET", "it-key", tok, "v").Text()
			if err != nil || got != "hello" {
				t.Fatalf("PGET through n2: %q, %v", got, err)
			}
			log, _ := os.ReadFile(n2.log.Name())
			if !strings.Contains(string(log), "replication connection refused") {
				t.Fatalf("n2 did not log the stranger:\n%s", log)
			}
		})
	}
}
