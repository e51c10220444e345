package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	pconfig "github.com/prometheus/common/config"
	"golang.org/x/crypto/ssh"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// SSHProbe is the `ssh:` block of a vigie ssh module.
type SSHProbe struct {
	IPProtocol         string `yaml:"preferred_ip_protocol,omitempty"`
	IPProtocolFallback bool   `yaml:"ip_protocol_fallback,omitempty"`
	SourceIPAddress    string `yaml:"source_ip_address,omitempty"`
	// ExpectedHostKeyFingerprints in OpenSSH `ssh-keygen -lf` form ("SHA256:…").
	ExpectedHostKeyFingerprints []string `yaml:"expected_host_key_fingerprints,omitempty"`
	// HostKeyAlgorithms are the host key algorithms offered to the server,
	// in order of preference (default: OpenSSH's order, ed25519 first).
	HostKeyAlgorithms []string `yaml:"host_key_algorithms,omitempty"`
	// FailIfBannerNotMatchesRegexp are matched against the server's
	// identification string (e.g. "SSH-2.0-OpenSSH_9.2p1 Debian-2").
	FailIfBannerNotMatchesRegexp []Regexp       `yaml:"fail_if_banner_not_matches_regexp,omitempty"`
	Username                     string         `yaml:"username,omitempty"`
	Password                     pconfig.Secret `yaml:"password,omitempty"`
	PasswordFile                 string         `yaml:"password_file,omitempty"`
	PrivateKeyFile               string         `yaml:"private_key_file,omitempty"`
	PrivateKeyPassphrase         pconfig.Secret `yaml:"private_key_passphrase,omitempty"`
	Command                      string         `yaml:"command,omitempty"`
	ExpectedExitStatus           int            `yaml:"expected_exit_status,omitempty"`
	FailIfOutputNotMatchesRegexp []Regexp       `yaml:"fail_if_output_not_matches_regexp,omitempty"`
	FailIfOutputMatchesRegexp    []Regexp       `yaml:"fail_if_output_matches_regexp,omitempty"`

	present bool // the module has this block
}

func defaultSSHProbe() SSHProbe { return SSHProbe{IPProtocolFallback: true} }

// UnmarshalYAML applies the defaults of an ssh block.
func (p *SSHProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*p = defaultSSHProbe()
	p.present = true
	type plain SSHProbe
	return unmarshal((*plain)(p))
}

// WantsAuth reports whether the probe must authenticate: a password, a key
// or a command is configured. Otherwise it stops after the key exchange and
// a "none" authentication attempt, whose refusal is expected.
func (p *SSHProbe) WantsAuth() bool {
	return p.Password != "" || p.PasswordFile != "" || p.PrivateKeyFile != "" || p.Command != ""
}

func (p *SSHProbe) validate() error {
	for i, fp := range p.ExpectedHostKeyFingerprints {
		if !strings.HasPrefix(fp, "SHA256:") || len(strings.TrimRight(fp, "=")) != len("SHA256:")+43 {
			return schema.AtIndex(fmt.Errorf("fingerprint %q is not in OpenSSH SHA256 form (SHA256:<base64>, as printed by ssh-keygen -lf)", fp), "expected_host_key_fingerprints", i)
		}
	}
	known := slices.Concat(ssh.SupportedAlgorithms().HostKeys, ssh.InsecureAlgorithms().HostKeys)
	for i, algo := range p.HostKeyAlgorithms {
		if !slices.Contains(known, algo) {
			return schema.AtIndex(fmt.Errorf("unknown host key algorithm %q (known: %s)", algo, strings.Join(known, ", ")), "host_key_algorithms", i)
		}
	}
	secrets := 0
	for _, set := range []bool{p.Password != "", p.PasswordFile != "", p.PrivateKeyFile != ""} {
		if set {
			secrets++
		}
	}
	if secrets > 1 {
		return errors.New("at most one of password, password_file & private_key_file must be configured")
	}
	if secrets > 0 && p.Username == "" {
		return schema.At(errors.New("username must be set when a password or key is configured"), "username")
	}
	if p.PrivateKeyPassphrase != "" && p.PrivateKeyFile == "" {
		return schema.At(errors.New("private_key_passphrase needs private_key_file"), "private_key_passphrase")
	}
	if p.Command != "" && p.Username == "" {
		return schema.At(errors.New("command needs a username (and a password or key) to authenticate"), "command")
	}
	if (len(p.FailIfOutputNotMatchesRegexp) > 0 || len(p.FailIfOutputMatchesRegexp) > 0) && p.Command == "" {
		return errors.New("output regexps need a command")
	}
	if p.ExpectedExitStatus < 0 || p.ExpectedExitStatus > 255 {
		return schema.At(errors.New("expected_exit_status must be between 0 and 255"), "expected_exit_status")
	}
	return nil
}
