package doccheck

// This file is the one place that knows where vigie's configuration schemas
// and loaders live: the key check walks the schemas, the example check runs
// the loaders. When a schema moves (the router's to its own package, say),
// repoint it here.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	pconfig "github.com/prometheus/common/config"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/vigie-monitoring/vigie/alertrouter"
	routerconfig "github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/discovery"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// schema is a configuration format users write: the type its parser
// decodes into, and the page each key must be documented on.
type schema struct {
	name string
	root reflect.Type
	// pages returns the pages on which the key at path (its YAML keys
	// from the root, without list indexes or map keys) may be documented.
	pages func(path []string) []string
}

var schemas = []schema{
	{"exporter configuration", reflect.TypeFor[config.Config](), exporterPages},
	{"router configuration", reflect.TypeFor[routerconfig.RouterConfig](), routerPages},
	{"static target file", reflect.TypeFor[discovery.TargetFileGroup](), func([]string) []string { return []string{"docs/discovery.md"} }},
}

// handParsed are the keys of schema types that parse their YAML by hand
// (a yaml.Unmarshaler over the node): reflection cannot see them.
var handParsed = map[reflect.Type][]string{
	reflect.TypeFor[routerconfig.TimeRange](): {"start_time", "end_time"},
}

// exporterPages: a prober's block on its page, the rest on configuration.md.
func exporterPages(path []string) []string {
	if len(path) >= 2 && path[0] == "modules" {
		if p, ok := config.LookupProber(path[1]); ok {
			return []string{"docs/probers/" + p.Name + ".md"}
		}
	}
	return []string{"docs/configuration.md"}
}

// routerPages: an integration's keys on its receiver page, the rest on
// router.md.
func routerPages(path []string) []string {
	if len(path) >= 2 && path[0] == "receivers" {
		switch path[1] {
		case "telegram_configs":
			return []string{"docs/receivers/telegram.md"}
		case "email_configs":
			return []string{"docs/receivers/email.md"}
		case "sms_configs":
			return []string{"docs/receivers/sms.md"}
		case "webhook_configs":
			return []string{"docs/receivers/webhook.md"}
		case "log_configs":
			return []string{"docs/receivers.md"}
		}
		return []string{"docs/receivers.md", "docs/router.md"}
	}
	return []string{"docs/router.md"}
}

// loaders check a YAML example of the documentation, by the kind its tag
// names, with the real parser: data is the block, dir a directory of the
// test where files the example refers to have been made.
var loaders = map[string]func(t *testing.T, data []byte, dir string) error{
	"exporter": func(t *testing.T, data []byte, dir string) error {
		_, err := config.Parse(data)
		return err
	},
	"router": func(t *testing.T, data []byte, dir string) error {
		// As the router does at start: the file, and every integration
		// built.
		path := filepath.Join(dir, "vigie-router.yml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
		_, err := alertrouter.CheckConfig(path, slog.New(slog.DiscardHandler))
		return err
	},
	"targets": func(t *testing.T, data []byte, dir string) error {
		_, err := discovery.ParseTargetFile(data)
		return err
	},
	"web": func(t *testing.T, data []byte, dir string) error {
		path := filepath.Join(dir, "web.yml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
		return web.Validate(path)
	},
	"http-client": func(t *testing.T, data []byte, dir string) error {
		c, err := pconfig.LoadHTTPConfig(string(data))
		if err != nil {
			return err
		}
		return c.Validate()
	},
	"prometheus":       promtool("config"),
	"prometheus-rules": promtool("rules"),
}

// promtool checks a Prometheus configuration or rule file with the real
// promtool, in dir (where the page's other named blocks were written, so
// that rule_files resolve).
func promtool(what string) func(t *testing.T, data []byte, dir string) error {
	return func(t *testing.T, data []byte, dir string) error {
		bin := testenv.Promtool(t)
		name := "prometheus.yml"
		if what == "rules" {
			name = "rules.yml"
		}
		if n := fileNameOf(data); n != "" {
			name = n
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
		cmd := exec.Command(bin, "check", what, name)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("promtool check %s: %v\n%s", what, err, out)
		}
		return nil
	}
}

// fileNameOf is the name a block gives itself on its first line
// ("# vigie-rules.yml"), if any.
func fileNameOf(data []byte) string {
	first, _, _ := strings.Cut(string(data), "\n")
	if name, ok := strings.CutPrefix(strings.TrimSpace(first), "# "); ok && strings.HasSuffix(name, ".yml") && !strings.Contains(name, " ") {
		return filepath.Base(name)
	}
	return ""
}

var fileKeyRE = regexp.MustCompile(`\b([a-z_]*_file):[ \t]*([^\s,}\]#]+)`)

// withFiles points every `*_file:` of an example at a file of dir, made for
// it: secrets get a token-shaped text, certificates and keys real PEM, so
// that loaders that read them at load time accept them.
func withFiles(t *testing.T, data []byte, dir string) []byte {
	t.Helper()
	cert, key := testPEM(t)
	n := 0
	return fileKeyRE.ReplaceAllFunc(data, func(m []byte) []byte {
		sub := fileKeyRE.FindSubmatch(m)
		k, v := string(sub[1]), string(sub[2])
		if v == `""` || v == `''` {
			return m
		}
		n++
		content := []byte("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw\n")
		switch k {
		case "ca_file", "cert_file":
			content = cert
		case "key_file":
			content = key
		case "body_file":
			content = []byte("{}\n")
		}
		p := filepath.Join(dir, fmt.Sprintf("file%d-%s", n, filepath.Base(v)))
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return []byte(k + ": " + p)
	})
}

var pemOnce struct {
	cert, key []byte
	err       error
	done      bool
}

// testPEM is a self-signed certificate and its key.
func testPEM(t *testing.T) (cert, key []byte) {
	t.Helper()
	if !pemOnce.done {
		pemOnce.done = true
		pemOnce.cert, pemOnce.key, pemOnce.err = makePEM()
	}
	if pemOnce.err != nil {
		t.Fatal(pemOnce.err)
	}
	return pemOnce.cert, pemOnce.key
}

func makePEM() ([]byte, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigie docs"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	if der == nil || kd == nil {
		return nil, nil, errors.New("no certificate")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), nil
}
