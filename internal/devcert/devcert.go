// Package devcert makes a development certificate authority and the certificates a node and
// its clients need for TLS. Keys are ECDSA P-256; certificates are X.509 v3 in PEM. It backs
// `sessiongated cert` and tests that need certificates; production PKI belongs elsewhere.
package devcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Usage says what a leaf certificate may be used for; values combine with |.
// A node's certificate is Server|Client: it serves clients and dials its peers.
type Usage int

const (
	// Server certificates authenticate a listener to the clients that dial it.
	Server Usage = 1 << iota
	// Client certificates authenticate a dialer to a listener that asks for one.
	Client
)

// Default validities: long enough that a development setup does not expire under the
// developer, short enough that a leaked development key does not live on for decades.
const (
	// CAValidity is how long NewCA's certificate is valid when given 0.
	CAValidity = 5 * 365 * 24 * time.Hour
	// LeafValidity is how long Issue's certificates are valid when given 0.
	LeafValidity = 365 * 24 * time.Hour
)

// backdate keeps a certificate valid on a machine whose clock is a little behind the issuer's.
const backdate = time.Hour

// CA is a certificate authority held in memory: its certificate and its private key.
// Make one with NewCA or Load, then sign leaves with Issue.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Leaf is an issued certificate and its private key, both PEM encoded.
// TLS turns it into a tls.Certificate for a tls.Config.
type Leaf struct {
	CertPEM, KeyPEM []byte
}

// NewCA returns a self-signed CA named name, valid for validity (0: CAValidity) from now.
// It may sign leaves only (path length 0).
func NewCA(name string, validity time.Duration) (*CA, error) {
	if validity <= 0 {
		validity = CAValidity
	}
	key, tmpl, err := newKeyAndTemplate(name, validity)
	if err != nil {
		return nil, fmt.Errorf("devcert: CA: %w", err)
	}
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid, tmpl.IsCA, tmpl.MaxPathLenZero = true, true, true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("devcert: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devcert: CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// newKeyAndTemplate makes a key and the part of a certificate every one here shares: a
// random serial, the subject, and validity from a little before now.
func newKeyAndTemplate(name string, validity time.Duration) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	return key, &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"sessiongate development"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(validity),
	}, nil
}

// ParseCA reads a CA from the PEM of its certificate and key (as CertPEM and KeyPEM write).
// The key must match the certificate, and the certificate must be a CA.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, errors.New("devcert: certificate is not a CA")
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("devcert: CA key does not match its certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CertPEM is the CA's certificate in PEM: what clients and peers trust (ca.crt).
// Give it to tls.Config.RootCAs or ClientCAs through Pool.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// KeyPEM is the CA's private key in PKCS#8 PEM (ca.key); whoever holds it can mint
// certificates the cluster trusts.
func (ca *CA) KeyPEM() ([]byte, error) {
	return marshalKey(ca.Key)
}

// Pool is a certificate pool holding only this CA, for RootCAs or ClientCAs.
// Each call returns a new pool.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue signs a new leaf named name for hosts (IP addresses and DNS names; empty for a
// client), for usage, valid for validity (0: LeafValidity, capped at the CA's expiry).
func (ca *CA) Issue(name string, hosts []string, usage Usage, validity time.Duration) (*Leaf, error) {
	if usage&(Server|Client) == 0 {
		return nil, errors.New("devcert: a leaf needs Server or Client usage")
	}
	if usage&Server != 0 && len(hosts) == 0 {
		return nil, errors.New("devcert: a server certificate needs at least one host")
	}
	if validity <= 0 {
		validity = LeafValidity
	}
	key, tmpl, err := newKeyAndTemplate(name, validity)
	if err != nil {
		return nil, fmt.Errorf("devcert: %s: %w", name, err)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter // a leaf outliving its CA would fail verification early
	}
	if usage&Server != 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if usage&Client != 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("devcert: certificate for %s: %w", name, err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return nil, err
	}
	return &Leaf{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: keyPEM}, nil
}

// TLS returns the leaf as a tls.Certificate, for tls.Config.Certificates.
// It fails only if the PEM was altered.
func (l *Leaf) TLS() (tls.Certificate, error) {
	c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("devcert: %w", err)
	}
	return c, nil
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("devcert: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil // positive, as RFC 5280 requires
}

func marshalKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("devcert: key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("devcert: no PEM certificate")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devcert: %w", err)
	}
	return c, nil
}

func parseKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("devcert: no PEM key")
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("devcert: unsupported key type %q", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("devcert: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("devcert: key cannot sign")
	}
	return s, nil
}
