package config

import (
	"errors"
	"fmt"
	"strings"

	pconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// FTPProbe is the `ftp:` block of a vigie ftp module.
type FTPProbe struct {
	IPProtocol         string            `yaml:"preferred_ip_protocol,omitempty"`
	IPProtocolFallback bool              `yaml:"ip_protocol_fallback,omitempty"`
	SourceIPAddress    string            `yaml:"source_ip_address,omitempty"`
	TLS                bool              `yaml:"tls,omitempty"`      // implicit FTPS (usually port 990)
	StartTLS           bool              `yaml:"starttls,omitempty"` // explicit FTPS (AUTH TLS) after the banner
	TLSConfig          pconfig.TLSConfig `yaml:"tls_config,omitempty"`
	// FailIfCertExpiresWithin fails the probe when a certificate presented
	// on the control connection expires within this duration.
	FailIfCertExpiresWithin model.Duration `yaml:"fail_if_cert_expires_within,omitempty"`
	// ExpectedBannerCode is the reply code of the greeting (default 220).
	ExpectedBannerCode int `yaml:"expected_banner_code,omitempty"`
	// FailIfBannerNotMatchesRegexp are matched against the greeting text.
	FailIfBannerNotMatchesRegexp  []Regexp       `yaml:"fail_if_banner_not_matches_regexp,omitempty"`
	Username                      string         `yaml:"username,omitempty"` // omitted: anonymous when login is wanted
	Password                      pconfig.Secret `yaml:"password,omitempty"`
	PasswordFile                  string         `yaml:"password_file,omitempty"`
	List                          string         `yaml:"list,omitempty"`     // optional LIST after login
	Retrieve                      string         `yaml:"retrieve,omitempty"` // optional RETR after login
	FailIfContentNotMatchesRegexp []Regexp       `yaml:"fail_if_content_not_matches_regexp,omitempty"`
	FailIfContentMatchesRegexp    []Regexp       `yaml:"fail_if_content_matches_regexp,omitempty"`

	present bool // the module has this block
}

// DefaultFTPBannerCode is the reply code of an FTP server ready for a new user.
const DefaultFTPBannerCode = 220

func defaultFTPProbe() FTPProbe { return FTPProbe{IPProtocolFallback: true} }

// UnmarshalYAML applies the defaults of an ftp block.
func (p *FTPProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*p = defaultFTPProbe()
	p.present = true
	type plain FTPProbe
	return unmarshal((*plain)(p))
}

// WantsLogin reports whether the probe logs in: when a username is set, or
// anonymously when a listing or a file is wanted.
func (p *FTPProbe) WantsLogin() bool {
	return p.Username != "" || p.List != "" || p.Retrieve != ""
}

func (p *FTPProbe) validate() error {
	if p.TLS && p.StartTLS {
		return errors.New("tls (implicit FTPS) and starttls (explicit FTPS) cannot both be set")
	}
	if p.Password != "" && p.PasswordFile != "" {
		return errors.New("at most one of password & password_file must be configured")
	}
	if p.List != "" && p.Retrieve != "" {
		return errors.New("at most one of list & retrieve must be configured")
	}
	if (len(p.FailIfContentNotMatchesRegexp) > 0 || len(p.FailIfContentMatchesRegexp) > 0) && p.List == "" && p.Retrieve == "" {
		return errors.New("content regexps need list or retrieve")
	}
	if p.ExpectedBannerCode != 0 && (p.ExpectedBannerCode < 100 || p.ExpectedBannerCode > 599) {
		return schema.At(errors.New("expected_banner_code must be an FTP reply code (100-599)"), "expected_banner_code")
	}
	if p.FailIfCertExpiresWithin < 0 {
		return schema.At(errors.New("fail_if_cert_expires_within must not be negative"), "fail_if_cert_expires_within")
	}
	if p.FailIfCertExpiresWithin > 0 && !p.TLS && !p.StartTLS {
		return schema.At(errors.New("fail_if_cert_expires_within needs tls or starttls"), "fail_if_cert_expires_within")
	}
	// These values are sent as FTP command arguments: a line break would
	// smuggle a second command onto the control connection.
	for _, f := range []struct{ key, value string }{
		{"username", p.Username}, {"password", string(p.Password)}, {"list", p.List}, {"retrieve", p.Retrieve},
	} {
		if strings.ContainsAny(f.value, "\r\n") {
			return schema.At(fmt.Errorf("%s must not contain a line break", f.key), f.key)
		}
	}
	return nil
}
