package config

import (
	"errors"
	"fmt"
	"math"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	pconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// HTTPProbe is the `http:` block of a module (blackbox-compatible).
type HTTPProbe struct {
	// Defaults to 2xx.
	ValidStatusCodes             []int         `yaml:"valid_status_codes,omitempty"`
	ValidHTTPVersions            []string      `yaml:"valid_http_versions,omitempty"`
	IPProtocol                   string        `yaml:"preferred_ip_protocol,omitempty"`
	IPProtocolFallback           bool          `yaml:"ip_protocol_fallback,omitempty"`
	SkipResolvePhaseWithProxy    bool          `yaml:"skip_resolve_phase_with_proxy,omitempty"`
	NoFollowRedirects            *bool         `yaml:"no_follow_redirects,omitempty"`
	FailIfSSL                    bool          `yaml:"fail_if_ssl,omitempty"`
	FailIfNotSSL                 bool          `yaml:"fail_if_not_ssl,omitempty"`
	Method                       string        `yaml:"method,omitempty"`
	Headers                      Headers       `yaml:"headers,omitempty"`
	FailIfBodyMatchesRegexp      []Regexp      `yaml:"fail_if_body_matches_regexp,omitempty"`
	FailIfBodyNotMatchesRegexp   []Regexp      `yaml:"fail_if_body_not_matches_regexp,omitempty"`
	FailIfBodyJSONMatchesCEL     *CELProgram   `yaml:"fail_if_body_json_matches_cel,omitempty"`
	FailIfBodyJSONNotMatchesCEL  *CELProgram   `yaml:"fail_if_body_json_not_matches_cel,omitempty"`
	FailIfHeaderMatchesRegexp    []HeaderMatch `yaml:"fail_if_header_matches,omitempty"`
	FailIfHeaderNotMatchesRegexp []HeaderMatch `yaml:"fail_if_header_not_matches,omitempty"`
	Body                         string        `yaml:"body,omitempty"`
	BodyFile                     string        `yaml:"body_file,omitempty"`
	// HTTPClientConfig carries authentication, TLS, proxy, redirects and HTTP/2 settings.
	HTTPClientConfig pconfig.HTTPClientConfig `yaml:"http_client_config,inline"`
	Compression      string                   `yaml:"compression,omitempty"`
	BodySizeLimit    ByteSize                 `yaml:"body_size_limit,omitempty"`
	EnableHTTP3      bool                     `yaml:"enable_http3,omitempty"`

	// vigie: fail when the leaf certificate expires within this duration.
	FailIfCertExpiresWithin model.Duration `yaml:"fail_if_cert_expires_within,omitempty"`

	// shared is common to all copies of this block (see Shared).
	shared *HTTPShared
}

// HTTPShared holds what the http prober derives from an http block and
// reuses across probes (its HTTP transport), so that a probe does not rebuild
// it. All copies of a module share it and it lives as long as the loaded
// configuration: a reload starts afresh. The prober owns its content.
type HTTPShared struct {
	v atomic.Value
}

// Load returns the stored value, nil when there is none.
func (s *HTTPShared) Load() any { return s.v.Load() }

// Store replaces the stored value, which must always be of the same type.
func (s *HTTPShared) Store(v any) { s.v.Store(v) }

// Shared returns the state shared by the copies of this block, or nil when
// the block was not built by the configuration loader (then nothing is
// reused between probes).
func (p *HTTPProbe) Shared() *HTTPShared { return p.shared }

// HeaderMatch is one entry of fail_if_header_matches / fail_if_header_not_matches.
type HeaderMatch struct {
	Header       string `yaml:"header,omitempty"`
	Regexp       Regexp `yaml:"regexp,omitempty"`
	AllowMissing bool   `yaml:"allow_missing,omitempty"`
}

func defaultHTTPProbe() HTTPProbe {
	return HTTPProbe{
		IPProtocolFallback: true,
		HTTPClientConfig:   pconfig.DefaultHTTPClientConfig,
		shared:             &HTTPShared{},
	}
}

// UnmarshalYAML applies the defaults of an http block.
func (p *HTTPProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*p = defaultHTTPProbe()
	type plain HTTPProbe
	if err := unmarshal((*plain)(p)); err != nil {
		return err
	}
	if p.NoFollowRedirects != nil {
		// Deprecated upstream spelling; follow_redirects replaces it.
		p.HTTPClientConfig.FollowRedirects = !*p.NoFollowRedirects
		p.NoFollowRedirects = nil
	}
	return nil
}

func (p *HTTPProbe) validate() error {
	// A size of "max int" would overflow http.MaxBytesReader; 0 means no limit.
	if p.BodySizeLimit < 0 || p.BodySizeLimit == math.MaxInt64 {
		p.BodySizeLimit = math.MaxInt64 - 1
	}
	if err := p.HTTPClientConfig.Validate(); err != nil {
		return err
	}
	if p.Body != "" && p.BodyFile != "" {
		return errors.New("setting body and body_file both are not allowed")
	}
	if p.BodyFile != "" {
		if _, err := os.Stat(p.BodyFile); err != nil {
			return schema.At(fmt.Errorf("body_file: %w", err), "body_file")
		}
	}
	for key, value := range p.Headers {
		if textproto.CanonicalMIMEHeaderKey(key) == "Accept-Encoding" && !isCompressionAcceptEncodingValid(p.Compression, value) {
			return schema.At(fmt.Errorf(`invalid configuration "%s: %s", "compression: %s"`, key, value, p.Compression), "headers")
		}
	}
	if p.EnableHTTP3 {
		if p.HTTPClientConfig.EnableHTTP2 {
			return errors.New("when enable_http3 is true, enable_http2 must be set to false")
		}
		if len(p.ValidHTTPVersions) == 0 {
			return errors.New("when enable_http3 is true, valid_http_versions must be set to [\"HTTP/3.0\"]")
		}
		for _, v := range p.ValidHTTPVersions {
			if v != "HTTP/3.0" && v != "HTTP/3" {
				return errors.New("HTTP/3 and HTTP/2.0/1.1 cannot be used together - only HTTP/3.0 is allowed when enable_http3 is true")
			}
		}
	}
	for i, hm := range p.FailIfHeaderMatchesRegexp {
		if err := hm.validate(); err != nil {
			return schema.AtIndex(err, "fail_if_header_matches", i)
		}
	}
	for i, hm := range p.FailIfHeaderNotMatchesRegexp {
		if err := hm.validate(); err != nil {
			return schema.AtIndex(err, "fail_if_header_not_matches", i)
		}
	}
	if p.FailIfBodyJSONMatchesCEL != nil && p.FailIfBodyJSONMatchesCEL.Program == nil {
		return schema.At(errors.New("CEL program must be initialized"), "fail_if_body_json_matches_cel")
	}
	if p.FailIfBodyJSONNotMatchesCEL != nil && p.FailIfBodyJSONNotMatchesCEL.Program == nil {
		return schema.At(errors.New("CEL program must be initialized"), "fail_if_body_json_not_matches_cel")
	}
	if p.FailIfCertExpiresWithin < 0 {
		return schema.At(errors.New("fail_if_cert_expires_within must not be negative"), "fail_if_cert_expires_within")
	}
	return nil
}

func (h *HeaderMatch) validate() error {
	if h.Header == "" {
		return errors.New("header name must be set for HTTP header matchers")
	}
	if !h.Regexp.IsSet() {
		return errors.New("regexp must be set for HTTP header matchers")
	}
	return nil
}

// isCompressionAcceptEncodingValid reports whether an Accept-Encoding header
// value accepts the configured compression algorithm (RFC 9110 §12.5.3).
func isCompressionAcceptEncodingValid(encoding, acceptEncoding string) bool {
	if encoding == "" {
		return true
	}
	type coding struct {
		name string
		q    float64
	}
	var codings []coding
	for _, part := range strings.Split(acceptEncoding, ",") {
		fields := strings.Split(part, ";")
		name := strings.TrimSpace(fields[0])
		if name == "" {
			continue
		}
		q := 1.0
		for _, param := range fields[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
			if ok && strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		codings = append(codings, coding{strings.ToLower(name), q})
	}
	wildcard := -1.0
	for _, c := range codings {
		if c.name == strings.ToLower(encoding) {
			return c.q > 0
		}
		if c.name == "*" {
			wildcard = c.q
		}
	}
	return wildcard > 0
}
