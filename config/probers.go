package config

import (
	"errors"
	"fmt"
	"net/textproto"
	"strings"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// Prober is one row of the prober table: everything vigie knows about a
// prober but the probe itself. The configuration validates `prober:` and
// the prober's block with it, the exporter's target policy and the probe
// read targets with it, and discovery writes the targets of discovered
// services with it. Package prober maps each name to its probe function;
// its tests check that every row has one.
//
// Adding a prober: its block (a file in this package and a field of
// Module), its row below, its probe (a file in package prober) and that
// probe in prober's table.
type Prober struct {
	// Name is the value of a module's `prober:` key, and the key of the
	// prober's block in a module.
	Name string
	// Network is false for a prober whose target is not a network address
	// (unix: a socket path); the target policy does not apply to it.
	Network bool

	// validate checks the prober's block. Every block of a module is
	// checked, whichever prober the module uses, as upstream does.
	validate func(*Module) error
	// require checks what a module of this prober must have (nil: nothing).
	require func(*Module) error
	// defaults gives the block its defaults when a module of this prober
	// has none (nil: the block's defaults are always applied, as
	// upstream's).
	defaults func(*Module)
	// hostname applies /probe's hostname parameter (nil: ignored).
	hostname func(m *Module, hostname string) error
	// parse reads a target as the prober does; useTLS is the block's TLS
	// switch where it changes the default port (ftp, grpc, dns over TLS).
	parse func(target string, useTLS bool) (Target, error)
	// format writes the target of a discovered service instance.
	format func(ServiceAddress) string
}

// probers is the table, in the order upstream lists its probers and then
// vigie's own. It never changes after start-up.
var probers = []Prober{
	{
		Name: "http", Network: true,
		validate: func(m *Module) error { return m.HTTP.validate() },
		hostname: httpHostname,
		parse:    parseHTTPTarget,
		format:   formatURLTarget,
	},
	{
		Name: "tcp", Network: true,
		validate: func(m *Module) error { return m.TCP.validate() },
		hostname: func(m *Module, h string) error { setServerName(&m.TCP.TLSConfig.ServerName, h); return nil },
		parse:    parseTCPTarget,
		format:   formatHostPortTarget,
	},
	{
		Name: "icmp", Network: true,
		validate: func(m *Module) error { return m.ICMP.validate() },
		parse:    parseICMPTarget,
		format:   formatHostTarget,
	},
	{
		Name: "dns", Network: true,
		validate: func(m *Module) error { return m.DNS.validate() },
		// Upstream refuses any dns block without a query name, even in
		// modules of other probers; vigie refuses it where it matters, so
		// that the configuration shown by /config (defaults included)
		// loads again.
		require: func(m *Module) error {
			if m.DNS.QueryName == "" {
				return schema.At(errors.New("query name must be set for DNS module"), "dns")
			}
			return nil
		},
		parse:  parseDNSTarget,
		format: formatHostPortTarget,
	},
	{
		Name: "grpc", Network: true,
		validate: func(m *Module) error { return m.GRPC.validate() },
		parse:    parseGRPCTarget,
		format:   formatHostPortTarget,
	},
	{
		Name:     "unix",
		validate: func(m *Module) error { return m.Unix.validate() },
		parse:    parseUnixTarget,
		format:   formatHostPortTarget,
	},
	{
		Name: "websocket", Network: true,
		validate: func(m *Module) error { return m.Websocket.validate() },
		defaults: func(m *Module) {
			if !m.Websocket.present {
				m.Websocket = defaultWebsocketProbe()
			}
		},
		parse:  parseWebsocketTarget,
		format: formatWebsocketTarget,
	},
	{
		Name: "tls", Network: true,
		validate: func(m *Module) error { return m.TLS.validate() },
		defaults: func(m *Module) {
			if !m.TLS.present {
				m.TLS = defaultTLSProbe()
			}
		},
		hostname: func(m *Module, h string) error { setServerName(&m.TLS.TLSConfig.ServerName, h); return nil },
		parse:    parseTLSTarget,
		format:   formatHostPortTarget,
	},
	{
		Name: "ftp", Network: true,
		validate: func(m *Module) error { return m.FTP.validate() },
		defaults: func(m *Module) {
			if !m.FTP.present {
				m.FTP = defaultFTPProbe()
			}
		},
		hostname: func(m *Module, h string) error { setServerName(&m.FTP.TLSConfig.ServerName, h); return nil },
		parse:    parseFTPTarget,
		format:   formatHostPortTarget,
	},
	{
		Name: "ssh", Network: true,
		validate: func(m *Module) error { return m.SSH.validate() },
		defaults: func(m *Module) {
			if !m.SSH.present {
				m.SSH = defaultSSHProbe()
			}
		},
		parse:  parseSSHTarget,
		format: formatHostPortTarget,
	},
}

// Probers returns the prober table.
func Probers() []Prober { return append([]Prober(nil), probers...) }

// LookupProber returns the row of the prober called name.
func LookupProber(name string) (Prober, bool) {
	for _, p := range probers {
		if p.Name == name {
			return p, true
		}
	}
	return Prober{}, false
}

// ParseTarget reads target as the prober does before any I/O: the host
// and port it connects to, or why it refuses the target (without the
// target, which may carry credentials: the caller quotes it redacted).
// useTLS is the TLS switch of the prober's block, where it changes the
// default port (ftp's and grpc's tls, dns's dns_over_tls).
func (p Prober) ParseTarget(target string, useTLS bool) (Target, error) {
	return p.parse(target, useTLS)
}

// FormatTarget writes the target at which this prober probes a discovered
// service instance.
func (p Prober) FormatTarget(a ServiceAddress) string { return p.format(a) }

// FormatTarget writes the target at which a module of the named prober
// probes a discovered service instance; for a module this exporter does not
// know, <host>:<port> (or the host alone when the service has no port).
func FormatTarget(prober string, a ServiceAddress) string {
	if p, ok := LookupProber(prober); ok {
		return p.format(a)
	}
	return formatHostPortTarget(a)
}

// ApplyHostname applies /probe's hostname parameter to a module of this
// prober: the Host header of http probes, the TLS server name (unless the
// module sets one) of tcp, tls and ftp probes; the others ignore it.
func (p Prober) ApplyHostname(m *Module, hostname string) error {
	if p.hostname == nil {
		return nil
	}
	return p.hostname(m, hostname)
}

func httpHostname(m *Module, hostname string) error {
	headers := make(Headers, len(m.HTTP.Headers)+1)
	for name, value := range m.HTTP.Headers {
		if textproto.CanonicalMIMEHeaderKey(name) == "Host" && value != hostname {
			return fmt.Errorf("host header defined both in module configuration (%s) and with URL-parameter 'hostname' (%s)", value, hostname)
		}
		headers[name] = value
	}
	headers["Host"] = hostname
	m.HTTP.Headers = headers
	return nil
}

func setServerName(serverName *string, hostname string) {
	if *serverName == "" {
		*serverName = hostname
	}
}

// validateProber checks the module's prober and its block, and gives the
// block its defaults, before every block is validated.
func (m *Module) validateProber() error {
	if m.Prober == "" {
		return errors.New("prober must be set")
	}
	p, ok := LookupProber(m.Prober)
	if !ok {
		names := make([]string, len(probers))
		for i, p := range probers {
			names[i] = p.Name
		}
		return schema.At(fmt.Errorf("prober '%s' is not valid (valid: %s)", m.Prober, strings.Join(names, ", ")), "prober")
	}
	if p.require != nil {
		if err := p.require(m); err != nil {
			return err
		}
	}
	if p.defaults != nil {
		p.defaults(m)
	}
	return nil
}
