package main

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCertCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	var out bytes.Buffer
	if err := runCert([]string{"--dir", dir, "--hosts", "127.0.0.1,localhost,n1"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca.crt", "ca.key", "node.crt", "node.key", "client.crt", "client.key"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".key") && st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", name, st.Mode().Perm())
		}
	}
	if !strings.Contains(out.String(), "--tls-cert-file "+filepath.Join(dir, "node.crt")) || !strings.Contains(out.String(), "redis-cli --tls") {
		t.Errorf("output lacks the commands to use the files:\n%s", out.String())
	}
	// The node certificate is what --tls-cert-file takes.
	o, err := parseFlags([]string{"--tls-addr", "127.0.0.1:0", "--tls-cert-file", filepath.Join(dir, "node.crt"),
		"--tls-key-file", filepath.Join(dir, "node.key"), "--tls-ca-cert-file", filepath.Join(dir, "ca.crt")}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := o.tls.config(); err != nil || cfg.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("the written files as flags: %v", err)
	}
	key, _ := os.ReadFile(filepath.Join(dir, "node.key"))
	if err := runCert([]string{"--dir", dir}, &out, &out); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second run over existing keys: %v", err)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "node.key")); !bytes.Equal(now, key) {
		t.Fatal("a refused run changed node.key")
	}
	if err := runCert([]string{"--dir", dir, "--overwrite"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "node.key")); bytes.Equal(now, key) {
		t.Fatal("--overwrite kept node.key")
	}
	// The subcommand is reached through run, as `sessiongated cert`.
	if err := run([]string{"cert", "--dir", filepath.Join(t.TempDir(), "x"), "--hosts", ""}, &out); err == nil {
		t.Fatal("cert without hosts succeeded")
	}
}
