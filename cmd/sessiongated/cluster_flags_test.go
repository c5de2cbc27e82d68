package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiongate/sessiongate/clusterkey"
	"github.com/sessiongate/sessiongate/node"
)

func secretFile(t *testing.T, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// Protected mode: a cluster address anyone may reach, and no secret, stops the node.
func TestClusterOnAllInterfacesNeedsASecret(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{"--addr", "127.0.0.1:0", "--cluster-addr", "0.0.0.0:0"}, &out)
	if !errors.Is(err, node.ErrInsecure) || !strings.Contains(err.Error(), "--cluster-secret-file") {
		t.Fatalf("run: %v, want protected mode's refusal naming the fix", err)
	}
}

func TestClusterSecurityFlags(t *testing.T) {
	good := secretFile(t, "new-secret-0123456789\nold-secret-0123456789\n", 0o600)
	for _, tc := range []struct {
		name string
		sec  clusterSecurity
		env  string
		keys int
		err  string
	}{
		{"a file", clusterSecurity{secretFile: good}, "", 2, ""},
		{"the environment", clusterSecurity{}, "env-secret-0123456789", 1, ""},
		{"both", clusterSecurity{secretFile: good}, "env-secret-0123456789", 0, "not both"},
		{"a file others read", clusterSecurity{secretFile: secretFile(t, "x-secret-0123456789\n", 0o644)}, "", 0, "chmod 600"},
		{"a short secret", clusterSecurity{}, "short", 0, "at least"},
		{"no such file", clusterSecurity{secretFile: "/nonexistent/secret"}, "", 0, "no such file"},
		{"the old gossip key", clusterSecurity{legacyGossipKey: "0123456789abcdef"}, "", 0, "replaced by --cluster-secret-file"},
		{"half of peer TLS", clusterSecurity{peerCert: "node.crt"}, "", 0, "together"},
		{"a transition to nothing", clusterSecurity{transition: true}, "", 0, "needs the cluster secret"},
		{"a transition", clusterSecurity{secretFile: good, transition: true}, "", 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(secretEnv, tc.env)
			}
			var cc node.ClusterConfig
			err := tc.sec.apply(&cc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("apply: %v, want an error saying %q", err, tc.err)
				}
				return
			}
			if err != nil || len(cc.Keys) != tc.keys {
				t.Fatalf("apply: %v, %d keys; want %d", err, len(cc.Keys), tc.keys)
			}
		})
	}
	var cc node.ClusterConfig
	if err := (&clusterSecurity{secretFile: good}).apply(&cc); err != nil {
		t.Fatal(err)
	}
	want, _ := clusterkey.New([]byte("new-secret-0123456789"))
	if cc.Keys[0].ID() != want.ID() {
		t.Fatal("the newest secret is not first")
	}
}

func TestSecretFlagsHaveFileForms(t *testing.T) {
	pass := secretFile(t, "s3cret-pass\n", 0o600)
	apps := secretFile(t, "# apps\nshop=key-one\nblog=key-two\n", 0o600)
	o, err := parseFlags([]string{"--requirepass-file", pass, "--http-apps-file", apps}, &bytes.Buffer{})
	if err != nil || o.requirepass != "s3cret-pass" {
		t.Fatalf("parseFlags: %v, password %q", err, o.requirepass)
	}
	m, err := parseApps(o.httpApps)
	if err != nil || string(m["shop"]) != "key-one" || string(m["blog"]) != "key-two" {
		t.Fatalf("apps from the file: %v, %v", m, err)
	}
	for _, args := range [][]string{
		{"--requirepass-file", pass, "--requirepass", "x"},
		{"--requirepass-file", secretFile(t, "open\n", 0o644)},
		{"--http-apps-file", secretFile(t, "a=k,b=k\n", 0o600)},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
