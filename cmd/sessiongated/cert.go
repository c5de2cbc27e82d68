package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/sessiongate/sessiongate/internal/devcert"
)

// runCert is `sessiongated cert`: it writes a development CA, a node certificate (server and
// client usage: client TLS and inter-node mutual TLS) and a client certificate.
func runCert(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sessiongated cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "certs", "directory for node.crt, node.key, client.crt, client.key (and the CA unless --ca-dir)")
	caDir := fs.String("ca-dir", "", "directory of ca.crt and ca.key: reused when present, created when not (default --dir)")
	hosts := fs.String("hosts", "127.0.0.1,localhost", "comma-separated IP addresses and DNS names the node certificate is valid for")
	clientName := fs.String("client-name", "sessiongate-client", "common name of the client certificate")
	validity := fs.Duration("validity", devcert.LeafValidity, "how long the node and client certificates are valid")
	overwrite := fs.Bool("overwrite", false, "replace existing node and client certificates and keys")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sessiongated cert [flags]\n\nWrites a development CA (ca.crt, ca.key), a node certificate (node.crt, node.key)\nand a client certificate (client.crt, client.key). Keys are ECDSA P-256, mode 0600.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cert: unexpected argument %q", fs.Arg(0))
	}
	var hs []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	f, err := devcert.Write(devcert.Options{
		Dir: *dir, CADir: *caDir, Hosts: hs, ClientName: *clientName, LeafValidity: *validity, Overwrite: *overwrite,
	})
	if err != nil {
		return fmt.Errorf("cert: %w", err)
	}
	ca := "reused"
	if f.CACreated {
		ca = "created"
	}
	fmt.Fprintf(stdout, "CA %s: %s, %s\nnode (%s, valid %s): %s, %s\nclient: %s, %s\n\n",
		ca, f.CACert, f.CAKey, strings.Join(hs, ","), *validity, f.NodeCert, f.NodeKey, f.ClientCert, f.ClientKey)
	fmt.Fprintf(stdout, "sessiongated --tls-addr 127.0.0.1:6390 --tls-cert-file %s --tls-key-file %s --tls-ca-cert-file %s\n", f.NodeCert, f.NodeKey, f.CACert)
	fmt.Fprintf(stdout, "redis-cli --tls --cacert %s --cert %s --key %s -p 6390 PING\n", f.CACert, f.ClientCert, f.ClientKey)
	return nil
}
