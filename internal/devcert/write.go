package devcert

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// File names Write uses in its directories (the CA's in CADir, the rest in Dir); keys are
// mode 0600, certificates 0644.
const (
	CACertFile     = "ca.crt"     // the CA certificate: --tls-ca-cert-file, clients' trust
	CAKeyFile      = "ca.key"     // the CA key: only for issuing more certificates
	NodeCertFile   = "node.crt"   // server and client usage: --tls-cert-file, peer TLS
	NodeKeyFile    = "node.key"   // its key: --tls-key-file
	ClientCertFile = "client.crt" // client usage only: redis-cli --cert, client.Config.TLS
	ClientKeyFile  = "client.key" // its key
)

// Options says what Write makes and where. Hosts is required; zero validities take the
// package defaults.
type Options struct {
	// Dir receives node.crt, node.key, client.crt and client.key, and the CA unless CADir is set.
	Dir string
	// CADir holds ca.crt and ca.key: an existing pair there is reused (to sign a second
	// node's certificate with the same CA); a missing one is created. Default Dir.
	CADir string
	// Hosts are the node certificate's IP addresses and DNS names.
	Hosts []string
	// ClientName is the client certificate's common name. Default "sessiongate-client".
	ClientName string
	// CAValidity and LeafValidity bound the new certificates' lives.
	CAValidity, LeafValidity time.Duration
	// Overwrite replaces existing node and client files; without it Write refuses to.
	Overwrite bool
}

// Files are the paths Write wrote or reused, for flags such as --tls-cert-file.
// CACreated says whether the CA is new.
type Files struct {
	CACert, CAKey, NodeCert, NodeKey, ClientCert, ClientKey string
	CACreated                                               bool
}

// Write makes (or reuses) a CA and issues a node certificate (Server|Client usage, for
// client TLS and inter-node mutual TLS) and a client certificate. Keys are written 0600.
func Write(o Options) (Files, error) {
	if o.Dir == "" {
		return Files{}, errors.New("devcert: no directory")
	}
	if len(o.Hosts) == 0 {
		return Files{}, errors.New("devcert: no hosts for the node certificate")
	}
	if o.CADir == "" {
		o.CADir = o.Dir
	}
	if o.ClientName == "" {
		o.ClientName = "sessiongate-client"
	}
	f := Files{
		CACert: filepath.Join(o.CADir, CACertFile), CAKey: filepath.Join(o.CADir, CAKeyFile),
		NodeCert: filepath.Join(o.Dir, NodeCertFile), NodeKey: filepath.Join(o.Dir, NodeKeyFile),
		ClientCert: filepath.Join(o.Dir, ClientCertFile), ClientKey: filepath.Join(o.Dir, ClientKeyFile),
	}
	if !o.Overwrite {
		// Checked before anything is written, so a refusal leaves the directory as it was.
		for _, p := range []string{f.NodeCert, f.NodeKey, f.ClientCert, f.ClientKey} {
			if _, err := os.Stat(p); err == nil {
				return Files{}, fmt.Errorf("devcert: %s exists (remove it or overwrite)", p)
			}
		}
	}
	for _, d := range []string{o.Dir, o.CADir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Files{}, fmt.Errorf("devcert: %w", err)
		}
	}
	ca, created, err := loadOrCreateCA(f.CACert, f.CAKey, o.CAValidity)
	if err != nil {
		return Files{}, err
	}
	f.CACreated = created
	node, err := ca.Issue("node", o.Hosts, Server|Client, o.LeafValidity)
	if err != nil {
		return Files{}, err
	}
	cl, err := ca.Issue(o.ClientName, nil, Client, o.LeafValidity)
	if err != nil {
		return Files{}, err
	}
	for _, w := range []struct {
		path string
		data []byte
		mode fs.FileMode
	}{
		{f.NodeKey, node.KeyPEM, 0o600}, {f.NodeCert, node.CertPEM, 0o644},
		{f.ClientKey, cl.KeyPEM, 0o600}, {f.ClientCert, cl.CertPEM, 0o644},
	} {
		if err := writeFile(w.path, w.data, w.mode, o.Overwrite); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

// loadOrCreateCA reuses the CA in certPath and keyPath, or makes and writes one when neither
// exists. One without the other is an error: a half-present CA is never replaced silently.
func loadOrCreateCA(certPath, keyPath string, validity time.Duration) (*CA, bool, error) {
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		ca, err := ParseCA(certPEM, keyPEM)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", certPath, err)
		}
		return ca, false, nil
	case !errors.Is(certErr, fs.ErrNotExist) || !errors.Is(keyErr, fs.ErrNotExist):
		return nil, false, fmt.Errorf("devcert: need both or neither of %s and %s: %w", certPath, keyPath, errors.Join(certErr, keyErr))
	}
	ca, err := NewCA("sessiongate development CA", validity)
	if err != nil {
		return nil, false, err
	}
	keyPEM, err = ca.KeyPEM()
	if err != nil {
		return nil, false, err
	}
	if err := writeFile(keyPath, keyPEM, 0o600, false); err != nil {
		return nil, false, err
	}
	if err := writeFile(certPath, ca.CertPEM(), 0o644, false); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

// writeFile writes data with mode; without overwrite an existing file is an error (O_EXCL,
// so two writers cannot both win). The mode is set even where the umask would narrow or
// an existing file had wider permissions.
func writeFile(path string, data []byte, mode fs.FileMode, overwrite bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if overwrite {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, mode)
	if err != nil {
		return fmt.Errorf("devcert: %w", err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("devcert: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("devcert: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("devcert: %w", err)
	}
	return nil
}
