package httpfast

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// WebConfig is a parsed --web.config.file in Prometheus's web
// configuration format (the subset this server implements):
//
//	tls_server_config:
//	  cert_file: server.crt      # relative to the config file
//	  key_file: server.key
//	  min_version: TLS12          # TLS10, TLS11, TLS12 (default), TLS13
//	  max_version: TLS13
//	basic_auth_users:
//	  alice: $2y$10$...           # bcrypt hash
//
// Unknown keys are an error naming the key, so a typo never silently
// turns authentication off.
type WebConfig struct {
	BasicAuthUsers map[string]string // user → bcrypt hash
	TLS            *tls.Config       // nil: plain HTTP
}

type webConfigFile struct {
	TLSServerConfig *struct {
		CertFile   string `yaml:"cert_file"`
		KeyFile    string `yaml:"key_file"`
		MinVersion string `yaml:"min_version"`
		MaxVersion string `yaml:"max_version"`
	} `yaml:"tls_server_config"`
	BasicAuthUsers map[string]string `yaml:"basic_auth_users"`
}

// ErrWebConfig marks an invalid web configuration file.
var ErrWebConfig = errors.New("httpfast: invalid web config")

var tlsVersions = map[string]uint16{
	"TLS10": tls.VersionTLS10, "TLS11": tls.VersionTLS11, "TLS12": tls.VersionTLS12, "TLS13": tls.VersionTLS13,
}

// LoadWebConfig reads and checks a web configuration file: every bcrypt
// hash must parse, the certificate and key must load, versions must be
// known.
func LoadWebConfig(path string) (*WebConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWebConfig, err)
	}
	var f webConfigFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s: %w", ErrWebConfig, path, err)
	}
	wc := &WebConfig{BasicAuthUsers: map[string]string{}}
	for u, h := range f.BasicAuthUsers {
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return nil, fmt.Errorf("%w: %s: basic_auth_users.%s: not a bcrypt hash: %w", ErrWebConfig, path, u, err)
		}
		wc.BasicAuthUsers[u] = h
	}
	if t := f.TLSServerConfig; t != nil {
		if t.CertFile == "" || t.KeyFile == "" {
			return nil, fmt.Errorf("%w: %s: tls_server_config needs cert_file and key_file", ErrWebConfig, path)
		}
		dir := filepath.Dir(path)
		rel := func(p string) string {
			if filepath.IsAbs(p) {
				return p
			}
			return filepath.Join(dir, p)
		}
		cert, err := tls.LoadX509KeyPair(rel(t.CertFile), rel(t.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: tls_server_config: %w", ErrWebConfig, path, err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if t.MinVersion != "" {
			v, ok := tlsVersions[t.MinVersion]
			if !ok {
				return nil, fmt.Errorf("%w: %s: tls_server_config.min_version %q (want TLS10, TLS11, TLS12 or TLS13)", ErrWebConfig, path, t.MinVersion)
			}
			cfg.MinVersion = v
		}
		if t.MaxVersion != "" {
			v, ok := tlsVersions[t.MaxVersion]
			if !ok {
				return nil, fmt.Errorf("%w: %s: tls_server_config.max_version %q (want TLS10, TLS11, TLS12 or TLS13)", ErrWebConfig, path, t.MaxVersion)
			}
			cfg.MaxVersion = v
		}
		wc.TLS = cfg
	}
	return wc, nil
}
