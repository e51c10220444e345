package config

import (
	"errors"

	pconfig "github.com/prometheus/common/config"
)

// FTPProbe is the `ftp:` block of a vigie ftp module.
type FTPProbe struct {
	IPProtocol         string            `yaml:"preferred_ip_protocol,omitempty"`
	IPProtocolFallback bool              `yaml:"ip_protocol_fallback,omitempty"`
	SourceIPAddress    string            `yaml:"source_ip_address,omitempty"`
	TLS                bool              `yaml:"tls,omitempty"`      // implicit FTPS (usually port 990)
	StartTLS           bool              `yaml:"starttls,omitempty"` // explicit FTPS (AUTH TLS) after the banner
	TLSConfig          pconfig.TLSConfig `yaml:"tls_config,omitempty"`
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

func defaultFTPProbe() FTPProbe { return FTPProbe{IPProtocolFallback: true} }

// UnmarshalYAML applies the defaults of an ftp block.
func (p *FTPProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*p = defaultFTPProbe()
	p.present = true
	type plain FTPProbe
	return unmarshal((*plain)(p))
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
		return at(errors.New("expected_banner_code must be an FTP reply code (100-599)"), "expected_banner_code")
	}
	return nil
}
