package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// secretFiles are the file forms of the flags that carry secrets, so that no secret has to
// appear on a command line (where every user of the host can read it in the process list).
type secretFiles struct {
	requirepass, httpApps string
}

func (f *secretFiles) register(fs *flag.FlagSet) {
	fs.StringVar(&f.requirepass, "requirepass-file", "", "file holding the password clients must AUTH with (instead of --requirepass)")
	fs.StringVar(&f.httpApps, "http-apps-file", "", "file of REST apps and their sign keys, one app=key per line (instead of --http-apps)")
}

// apply reads the files into the options they stand for.
func (f *secretFiles) apply(o *options) error {
	if f.requirepass != "" {
		if o.requirepass != "" {
			return errors.New("give the password once: --requirepass or --requirepass-file, not both")
		}
		b, err := readSecretFile(f.requirepass)
		if err != nil {
			return fmt.Errorf("--requirepass-file: %w", err)
		}
		if o.requirepass = strings.TrimSpace(string(b)); o.requirepass == "" {
			return fmt.Errorf("--requirepass-file: %s is empty", f.requirepass)
		}
	}
	if f.httpApps != "" {
		if o.httpApps != "" {
			return errors.New("give the REST apps once: --http-apps or --http-apps-file, not both")
		}
		b, err := readSecretFile(f.httpApps)
		if err != nil {
			return fmt.Errorf("--http-apps-file: %w", err)
		}
		var apps []string
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if strings.Contains(line, ",") {
				return fmt.Errorf("--http-apps-file: line %d: a sign key may not contain a comma", i+1)
			}
			apps = append(apps, line)
		}
		o.httpApps = strings.Join(apps, ",")
	}
	return nil
}

// readSecretFile reads a file holding a secret, refusing one that others may read.
func readSecretFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	return os.ReadFile(path)
}
