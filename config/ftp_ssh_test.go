package config

import (
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// The contract's example modules (exporter.md) with every key of the ftp
// and ssh blocks.
const ftpSSHExample = `
modules:
  ftp_login:
    prober: ftp
    timeout: 10s
    ftp:
      preferred_ip_protocol: ip4
      tls: false
      starttls: true
      tls_config: {insecure_skip_verify: false}
      fail_if_cert_expires_within: 14d
      expected_banner_code: 220
      fail_if_banner_not_matches_regexp: ["vsFTPd"]
      username: monitor
      password_file: /etc/vigie/ftp.pass
      retrieve: /pub/health.txt
      fail_if_content_not_matches_regexp: ["^ok"]
      fail_if_content_matches_regexp: ["ERROR"]
  ftp_anonymous:
    prober: ftp
    ftp:
      list: /pub
  ssh_hostkey:
    prober: ssh
    timeout: 10s
    ssh:
      preferred_ip_protocol: ip4
      expected_host_key_fingerprints: ["SHA256:RIrY8PyyY6XkvOUUtTic24F/Cxpsxsq0eB/cmlYjaF8"]
      host_key_algorithms: [ssh-ed25519, rsa-sha2-512]
      fail_if_banner_not_matches_regexp: ["^SSH-2\\.0-OpenSSH_"]
      username: monitor
      private_key_file: /etc/vigie/id_ed25519
      private_key_passphrase: sekret
      command: "true"
      expected_exit_status: 0
      fail_if_output_not_matches_regexp: ["ok"]
      fail_if_output_matches_regexp: ["degraded"]
  ssh_plain:
    prober: ssh
`

func TestFTPSSHConfig(t *testing.T) {
	c, err := Parse([]byte(ftpSSHExample))
	if err != nil {
		t.Fatal(err)
	}
	ftp := c.Modules["ftp_login"].FTP
	if !ftp.StartTLS || ftp.Username != "monitor" || ftp.Retrieve != "/pub/health.txt" || time.Duration(ftp.FailIfCertExpiresWithin) != 14*24*time.Hour || !ftp.WantsLogin() {
		t.Errorf("ftp block: %+v", ftp)
	}
	if anon := c.Modules["ftp_anonymous"].FTP; !anon.WantsLogin() || !anon.IPProtocolFallback {
		t.Errorf("anonymous listing must log in and fall back: %+v", anon)
	}
	ssh := c.Modules["ssh_hostkey"].SSH
	if len(ssh.HostKeyAlgorithms) != 2 || ssh.Command != "true" || !ssh.WantsAuth() {
		t.Errorf("ssh block: %+v", ssh)
	}
	if plain := c.Modules["ssh_plain"].SSH; plain.WantsAuth() || !plain.IPProtocolFallback {
		t.Errorf("ssh defaults: %+v", plain)
	}
	out, err := schema.MarshalYAML(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "sekret") {
		t.Errorf("passphrase not masked:\n%s", out)
	}
}

func TestFTPSSHBadConfigs(t *testing.T) {
	ftp := func(block string) string { return "modules:\n  m:\n    prober: ftp\n    ftp:\n" + block }
	ssh := func(block string) string { return "modules:\n  m:\n    prober: ssh\n    ssh:\n" + block }
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"ftp tls and starttls", ftp("      tls: true\n      starttls: true\n"), []string{"cannot both be set"}},
		{"ftp two passwords", ftp("      password: a\n      password_file: b\n"), []string{"at most one of password & password_file"}},
		{"ftp list and retrieve", ftp("      list: /\n      retrieve: /f\n"), []string{"at most one of list & retrieve"}},
		{"ftp content regexp without transfer", ftp("      fail_if_content_matches_regexp: [x]\n"), []string{"content regexps need list or retrieve"}},
		{"ftp banner code", ftp("      expected_banner_code: 42\n"), []string{"line 5", "expected_banner_code must be an FTP reply code"}},
		{"ftp expiry without tls", ftp("      fail_if_cert_expires_within: 1d\n"), []string{"line 5", "fail_if_cert_expires_within needs tls or starttls"}},
		{"ftp line break in path", ftp("      retrieve: \"/f\\r\\nDELE /f\"\n"), []string{"line 5", "retrieve must not contain a line break"}},
		{"ftp line break in user", ftp("      username: \"a\\nb\"\n"), []string{"username must not contain a line break"}},
		{"ftp bad regexp", ftp("      fail_if_banner_not_matches_regexp: ['(']\n"), []string{"line 5", "could not compile regular expression"}},
		{"ftp unknown key", ftp("      passive: true\n"), []string{"field passive not found"}},
		{"ssh md5 fingerprint", ssh("      expected_host_key_fingerprints: [md5]\n"), []string{"line 5", "not in OpenSSH SHA256 form"}},
		{"ssh short fingerprint", ssh("      expected_host_key_fingerprints: ['SHA256:abc']\n"), []string{"not in OpenSSH SHA256 form"}},
		{"ssh unknown host key algorithm", ssh("      host_key_algorithms: [ssh-ed448]\n"), []string{"line 5", `unknown host key algorithm "ssh-ed448"`}},
		{"ssh two secrets", ssh("      username: u\n      password: a\n      private_key_file: b\n"), []string{"at most one of password, password_file & private_key_file"}},
		{"ssh secret without user", ssh("      password: a\n"), []string{"username must be set"}},
		{"ssh passphrase without key", ssh("      username: u\n      private_key_passphrase: p\n"), []string{"private_key_passphrase needs private_key_file"}},
		{"ssh command without user", ssh("      command: 'true'\n"), []string{"command needs a username"}},
		{"ssh output regexp without command", ssh("      fail_if_output_matches_regexp: [x]\n"), []string{"output regexps need a command"}},
		{"ssh exit status", ssh("      username: u\n      command: x\n      expected_exit_status: 256\n"), []string{"expected_exit_status must be between 0 and 255"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
