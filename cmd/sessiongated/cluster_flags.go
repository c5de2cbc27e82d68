package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/sessiongate/sessiongate/clusterkey"
	"github.com/sessiongate/sessiongate/node"
)

// secretEnv holds the cluster secret itself (one per line, newest first) for deployments
// that pass secrets through the environment rather than files.
const secretEnv = "SESSIONGATE_CLUSTER_SECRET"

// clusterSecurity are the flags that decide who may be a member.
type clusterSecurity struct {
	secretFile                string
	peerCert, peerKey, peerCA string
	insecure, transition      bool
	legacyGossipKey           string
}

func (s *clusterSecurity) register(fs *flag.FlagSet) {
	fs.StringVar(&s.secretFile, "cluster-secret-file", "", "file holding the cluster secret every node shares, one per line, newest first (or "+secretEnv+"); gossip and replication are authenticated and encrypted with it")
	fs.StringVar(&s.peerCert, "peer-tls-cert-file", "", "this node's certificate for mutual TLS between nodes (with --peer-tls-key-file and --peer-tls-ca-file)")
	fs.StringVar(&s.peerKey, "peer-tls-key-file", "", "the key of --peer-tls-cert-file")
	fs.StringVar(&s.peerCA, "peer-tls-ca-file", "", "CA certificates that sign the cluster's node certificates")
	fs.BoolVar(&s.insecure, "insecure-cluster", false, "run a cluster without a secret or peer TLS on addresses that are not loopback (anyone who reaches its ports owns every session)")
	fs.BoolVar(&s.transition, "cluster-secret-transition", false, "with a cluster secret: also accept nodes that hold none, to secure a running cluster by two rolling restarts (docs/security.md)")
	fs.StringVar(&s.legacyGossipKey, "gossip-key", "", "replaced by --cluster-secret-file")
}

// apply fills the cluster configuration's security from the flags and the environment.
func (s *clusterSecurity) apply(cc *node.ClusterConfig) error {
	if s.legacyGossipKey != "" {
		return errors.New("--gossip-key is replaced by --cluster-secret-file (or " + secretEnv + "), which keys gossip and replication alike")
	}
	env, inEnv := os.LookupEnv(secretEnv)
	switch {
	case s.secretFile != "" && inEnv:
		return fmt.Errorf("give the cluster secret once: --cluster-secret-file or %s, not both", secretEnv)
	case s.secretFile != "":
		b, err := readSecretFile(s.secretFile)
		if err != nil {
			return fmt.Errorf("--cluster-secret-file: %w", err)
		}
		if cc.Keys, err = clusterkey.Parse(b); err != nil {
			return fmt.Errorf("--cluster-secret-file %s: %w", s.secretFile, err)
		}
	case inEnv:
		keys, err := clusterkey.Parse([]byte(env))
		if err != nil {
			return fmt.Errorf("%s: %w", secretEnv, err)
		}
		cc.Keys = keys
	}
	cc.Insecure = s.insecure
	if s.transition && len(cc.Keys) == 0 {
		return errors.New("--cluster-secret-transition needs the cluster secret to move to")
	}
	cc.Transition = s.transition
	if s.peerCert == "" && s.peerKey == "" && s.peerCA == "" {
		return nil
	}
	if s.peerCert == "" || s.peerKey == "" || s.peerCA == "" {
		return errors.New("peer TLS needs --peer-tls-cert-file, --peer-tls-key-file and --peer-tls-ca-file together")
	}
	p, err := loadPeerTLS(s.peerCert, s.peerKey, s.peerCA)
	if err != nil {
		return err
	}
	cc.PeerTLS = p
	return nil
}

// loadPeerTLS builds mutual TLS between nodes, verified both ways, as etcd's peer TLS: the
// same certificate serves and dials, and the CA pool checks the other side's.
func loadPeerTLS(certFile, keyFile, caFile string) (*node.PeerTLS, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("peer TLS: %w", err)
	}
	pool, err := loadCAPool(caFile)
	if err != nil {
		return nil, fmt.Errorf("peer TLS: %w", err)
	}
	return &node.PeerTLS{
		Server: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
			ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert},
		Client: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: pool},
	}, nil
}
