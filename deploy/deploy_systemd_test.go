package deploy

// Tests of deploy/systemd: the units parse, name binaries and flags that
// exist (checked against the real binaries' --help), carry the hardening
// the issue asks for, pass `systemd-analyze verify` and a minimum
// `systemd-analyze security` score, and the one privilege the exporter
// keeps (CAP_NET_RAW) is enough and needed for raw ICMP.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// systemdUnit describes one shipped unit and what the tests expect of it.
type systemdUnit struct {
	file        string // under deploy/systemd
	command     string // cmd/<command> builds the binary it starts
	defaults    string // sample /etc/default file, under deploy/systemd
	maxExposure float64
	want        map[string]string // key → exact value
}

// systemdCommonHardening is what both units must set.
var systemdCommonHardening = map[string]string{
	"User":                    "vigie",
	"Group":                   "vigie",
	"NoNewPrivileges":         "yes",
	"ProtectSystem":           "strict",
	"ProtectHome":             "yes",
	"PrivateTmp":              "yes",
	"PrivateDevices":          "yes",
	"ProtectKernelTunables":   "yes",
	"ProtectKernelModules":    "yes",
	"ProtectKernelLogs":       "yes",
	"ProtectControlGroups":    "yes",
	"RestrictNamespaces":      "yes",
	"RestrictSUIDSGID":        "yes",
	"LockPersonality":         "yes",
	"MemoryDenyWriteExecute":  "yes",
	"SystemCallArchitectures": "native",
	"SystemCallErrorNumber":   "EPERM",
	"ExecReload":              "/bin/kill -HUP $MAINPID",
	"WorkingDirectory":        "/etc/vigie",
}

var systemdUnits = []systemdUnit{
	{
		file:        "vigie-exporter.service",
		command:     "vigie_exporter",
		defaults:    "vigie-exporter.default",
		maxExposure: 1.5,
		want: map[string]string{
			"AmbientCapabilities":     "CAP_NET_RAW",
			"CapabilityBoundingSet":   "CAP_NET_RAW",
			"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
			"EnvironmentFile":         "-/etc/default/vigie-exporter",
		},
	},
	{
		file:        "vigie-router.service",
		command:     "vigie_router",
		defaults:    "vigie-router.default",
		maxExposure: 1.1,
		want: map[string]string{
			"AmbientCapabilities":     "", // absent
			"CapabilityBoundingSet":   "", // empty: no capability at all
			"PrivateUsers":            "yes",
			"StateDirectory":          "vigie-router",
			"StateDirectoryMode":      "0700",
			"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
			"EnvironmentFile":         "-/etc/default/vigie-router",
		},
	},
}

// systemdUnitFile is a parsed unit: section → key → values in order (a key
// may repeat, e.g. SystemCallFilter).
type systemdUnitFile map[string]map[string][]string

// systemdParseUnit reads the INI-like unit syntax: sections, Key=Value,
// comments (# ;), and backslash continuations.
func systemdParseUnit(r io.Reader) (systemdUnitFile, error) {
	unit := systemdUnitFile{}
	var section, pending string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			pending += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: bad section header %q", n, line)
			}
			section = line[1 : len(line)-1]
			if unit[section] == nil {
				unit[section] = map[string][]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not Key=Value", n, line)
		}
		if section == "" {
			return nil, fmt.Errorf("line %d: %q is outside any section", n, line)
		}
		key = strings.TrimSpace(key)
		unit[section][key] = append(unit[section][key], strings.TrimSpace(value))
	}
	if pending != "" {
		return nil, fmt.Errorf("continuation at the end of the file")
	}
	return unit, sc.Err()
}

// last returns the effective value of a key that takes one value.
func (u systemdUnitFile) last(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

func systemdLoadUnit(t *testing.T, name string) systemdUnitFile {
	t.Helper()
	f, err := os.Open(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, err := systemdParseUnit(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return u
}

// systemdHaveCommand reports whether cmd/<name> exists in this tree (the
// router lives in another branch until it is merged).
func systemdHaveCommand(name string) bool {
	_, err := os.Stat(filepath.Join("..", "cmd", name, "main.go"))
	return err == nil
}

// systemdBuildBinary builds cmd/<name> into a temporary directory.
func systemdBuildBinary(t *testing.T, name string) string {
	t.Helper()
	if !systemdHaveCommand(name) {
		t.Fatalf("cmd/%s does not exist", name)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Unavailable(t, "the go command is not in PATH")
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/"+name)
	cmd.Dir = ".."
	if res, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, res)
	}
	return out
}

// systemdNeedCommand builds the unit's binary.
func systemdNeedCommand(t *testing.T, u systemdUnit) string {
	t.Helper()
	if !systemdHaveCommand(u.command) {
		t.Fatalf("%s: cmd/%s does not exist", u.file, u.command)
	}
	return systemdBuildBinary(t, u.command)
}

var systemdHelpFlag = regexp.MustCompile(`^\s+(?:-\w, )?--(?:\[no-\])?([a-z0-9][a-z0-9._-]*)`)

// systemdFlags returns the long flags a kingpin binary lists in --help.
func systemdFlags(t *testing.T, bin string) map[string]bool {
	t.Helper()
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", bin, err, out)
	}
	flags := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if m := systemdHelpFlag.FindStringSubmatch(line); m != nil {
			flags[m[1]] = true
		}
	}
	if len(flags) < 5 {
		t.Fatalf("%s --help lists only %d flags: cannot parse it:\n%s", bin, len(flags), out)
	}
	return flags
}

var systemdFlagUse = regexp.MustCompile(`--(?:no-)?([a-z0-9][a-z0-9._-]*)`)

// systemdUsedFlags returns the flag names used in text (ExecStart, or a
// defaults file including its commented examples).
func systemdUsedFlags(text string) []string {
	var names []string
	for _, m := range systemdFlagUse.FindAllStringSubmatch(text, -1) {
		names = append(names, m[1])
	}
	return names
}

func TestSystemdUnitsParse(t *testing.T) {
	u, err := systemdParseUnit(strings.NewReader("[Service]\nExecStart=/bin/a \\\n  --b=c\n# x=y\nSystemCallFilter=@a\nSystemCallFilter=~@b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := u.last("Service", "ExecStart"); got != "/bin/a  --b=c" {
		t.Errorf("continuation: ExecStart = %q", got)
	}
	if got := u["Service"]["SystemCallFilter"]; !slices.Equal(got, []string{"@a", "~@b"}) {
		t.Errorf("repeated key: %q", got)
	}
	for _, bad := range []string{"Key=Value\n", "[Service]\nnot a pair\n", "[Service\n", "[Service]\nA=b \\\n"} {
		if _, err := systemdParseUnit(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestSystemdUnitsHardening(t *testing.T) {
	for _, su := range systemdUnits {
		t.Run(su.file, func(t *testing.T) {
			u := systemdLoadUnit(t, su.file)
			for _, section := range []string{"Unit", "Service", "Install"} {
				if u[section] == nil {
					t.Errorf("no [%s] section", section)
				}
			}
			if got, _ := u.last("Install", "WantedBy"); got != "multi-user.target" {
				t.Errorf("WantedBy = %q, want multi-user.target", got)
			}
			want := map[string]string{}
			for k, v := range systemdCommonHardening {
				want[k] = v
			}
			for k, v := range su.want {
				want[k] = v
			}
			for key, value := range want {
				got, ok := u.last("Service", key)
				switch {
				case key == "AmbientCapabilities" && value == "":
					if ok && got != "" {
						t.Errorf("AmbientCapabilities=%s: this service needs no capability", got)
					}
				case !ok:
					t.Errorf("%s is not set (want %s=%s)", key, key, value)
				case got != value:
					t.Errorf("%s=%s, want %s", key, got, value)
				}
			}
			// @system-service only, minus the privileged and resource calls.
			if got := u["Service"]["SystemCallFilter"]; !slices.Equal(got, []string{"@system-service", "~@privileged @resources"}) {
				t.Errorf("SystemCallFilter = %q", got)
			}
		})
	}
}

// TestSystemdUnitsMatchBinaries checks each unit against its real binary:
// ExecStart starts /usr/local/bin/<command>, every flag it and the sample
// defaults file use is one the binary has, the router's --storage.path is
// its StateDirectory, and the binary accepts the exact command line
// (`--config.check`).
func TestSystemdUnitsMatchBinaries(t *testing.T) {
	for _, su := range systemdUnits {
		t.Run(su.file, func(t *testing.T) {
			u := systemdLoadUnit(t, su.file)
			execStart, _ := u.last("Service", "ExecStart")
			args := strings.Fields(execStart)
			if len(args) == 0 || args[0] != "/usr/local/bin/"+su.command {
				t.Fatalf("ExecStart=%s does not start /usr/local/bin/%s", execStart, su.command)
			}
			if args[len(args)-1] != "$ARGS" {
				t.Errorf("ExecStart does not end with $ARGS from the EnvironmentFile")
			}
			if sd, ok := u.last("Service", "StateDirectory"); ok {
				if !slices.Contains(args, "--storage.path=/var/lib/"+sd) {
					t.Errorf("StateDirectory=%s but ExecStart does not pass --storage.path=/var/lib/%s", sd, sd)
				}
			}

			bin := systemdNeedCommand(t, su)
			flags := systemdFlags(t, bin)
			defaults, err := os.ReadFile(filepath.Join("systemd", su.defaults))
			if err != nil {
				t.Fatal(err)
			}
			for _, used := range [][2]string{{su.file, execStart}, {su.defaults, string(defaults)}} {
				for _, name := range systemdUsedFlags(used[1]) {
					if !flags[name] {
						t.Errorf("%s uses --%s, which %s does not have", used[0], name, su.command)
					}
				}
			}

			// Run the command line as written, plus the defaults file's
			// ARGS, with --config.check: the embedded default configuration
			// replaces --config.file (the test has no /etc/vigie) and a
			// temporary directory the state directory.
			envArgs := systemdDefaultsArgs(t, string(defaults))
			var run []string
			for _, a := range append(slices.Clone(args[1:]), envArgs...) {
				switch {
				case a == "$ARGS":
				case strings.HasPrefix(a, "--config.file="):
				case strings.HasPrefix(a, "--storage.path="):
					run = append(run, "--storage.path="+t.TempDir())
				default:
					run = append(run, a)
				}
			}
			run = append(run, "--config.check")
			cmd := exec.Command(bin, run...)
			cmd.Dir = t.TempDir()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s %s: %v\n%s", su.command, strings.Join(run, " "), err, out)
			}
		})
	}
}

// systemdDefaultsArgs returns the words of ARGS="…" in a defaults file.
func systemdDefaultsArgs(t *testing.T, text string) []string {
	t.Helper()
	var found []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "ARGS=") {
			continue
		}
		v, err := strconv.Unquote(strings.TrimPrefix(line, "ARGS="))
		if err != nil {
			t.Fatalf("defaults file: %q: ARGS must be a double-quoted string", line)
		}
		found = strings.Fields(v)
	}
	return found
}

// systemdRoot builds a file system root holding the units, the binaries
// they start (real builds; a stand-in for the router until it is merged)
// and systemd's own units, so that systemd-analyze can check them offline.
func systemdRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, dir := range []string{"etc/systemd/system", "usr/local/bin", "usr/bin", "usr/lib/systemd"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	systemUnits := ""
	for _, dir := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			systemUnits = dir
			break
		}
	}
	if systemUnits == "" {
		testenv.Unavailable(t, "systemd's units (/usr/lib/systemd/system) are not installed (Debian package systemd)")
	}
	if out, err := exec.Command("cp", "-a", systemUnits, filepath.Join(root, "usr/lib/systemd/")).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v\n%s", systemUnits, err, out)
	}
	kill, err := exec.LookPath("kill")
	if err != nil {
		testenv.Unavailable(t, "kill(1) is not installed (Debian package procps)")
	}
	systemdCopyFile(t, kill, filepath.Join(root, "usr/bin/kill"), 0o755)
	for _, su := range systemdUnits {
		systemdCopyFile(t, filepath.Join("systemd", su.file), filepath.Join(root, "etc/systemd/system", su.file), 0o644)
		bin := filepath.Join(root, "usr/local/bin", su.command)
		if systemdHaveCommand(su.command) {
			systemdCopyFile(t, systemdBuildBinary(t, su.command), bin, 0o755)
		} else {
			t.Logf("cmd/%s is not in this tree yet: an empty stand-in executable takes its place", su.command)
			if err := os.WriteFile(bin, nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func systemdCopyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}

// TestSystemdAnalyze runs `systemd-analyze verify` (any warning fails: an
// unknown or misspelt key is only a warning to systemd) and `systemd-analyze
// security`, whose exposure score must not get worse than what we ship; then
// it breaks a unit to show that verify does catch mistakes.
func TestSystemdAnalyze(t *testing.T) {
	analyze := testenv.Binary(t, "systemd-analyze")
	root := systemdRoot(t)
	for _, su := range systemdUnits {
		t.Run(su.file, func(t *testing.T) {
			out, err := systemdVerify(analyze, root, su.file)
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", su.file, err, out)
			}

			cmd := exec.Command(analyze, "security", "--offline=true", "--root="+root, "--no-pager", su.file)
			cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0")
			out, err = cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("systemd-analyze security %s: %v\n%s", su.file, err, out)
			}
			m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("no exposure level in:\n%s", out)
			}
			exposure, _ := strconv.ParseFloat(string(m[1]), 64)
			if exposure > su.maxExposure {
				t.Errorf("exposure level %.1f is worse than %.1f:\n%s", exposure, su.maxExposure, out)
			}
		})
	}

	unit := filepath.Join(root, "etc/systemd/system/vigie-exporter.service")
	orig, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	mistakes := []struct{ old, new, want string }{
		{"ProtectSystem=strict", "ProtectSytem=strict", "Unknown key"},
		{"ExecStart=/usr/local/bin/vigie_exporter", "ExecStart=/usr/local/bin/vigie-exporter", "is not executable"},
	}
	for _, tc := range mistakes {
		t.Run("catches "+tc.new, func(t *testing.T) {
			if err := os.WriteFile(unit, bytes.Replace(orig, []byte(tc.old), []byte(tc.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = os.WriteFile(unit, orig, 0o644) }()
			out, _ := systemdVerify(analyze, root, "vigie-exporter.service")
			if !bytes.Contains(out, []byte(tc.want)) {
				t.Errorf("systemd-analyze verify did not say %q:\n%s", tc.want, out)
			}
		})
	}
}

func systemdVerify(analyze, root, unit string) ([]byte, error) {
	cmd := exec.Command(analyze, "verify", "--root="+root, "--man=no", unit)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_COLORS=0")
	return cmd.CombinedOutput()
}

// TestSystemdSysusers checks the sysusers.d file creates the user the units
// run as.
func TestSystemdSysusers(t *testing.T) {
	sysusers := testenv.Binary(t, "systemd-sysusers")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	file, err := filepath.Abs("systemd/vigie.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sysusers, "--root="+root, "--dry-run", file).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	for _, su := range systemdUnits {
		user, _ := systemdLoadUnit(t, su.file).last("Service", "User")
		if !strings.Contains(string(out), fmt.Sprintf("Creating user '%s'", user)) {
			t.Errorf("vigie.sysusers does not create %s's user %q:\n%s", su.file, user, out)
		}
	}
}

// TestSystemdExporterICMPNeedsOnlyNetRaw runs the exporter the way the unit
// does, as far as capabilities go: an unprivileged user, no_new_privs,
// CAP_NET_RAW as the only (ambient) capability. A dont_fragment ICMP probe
// always needs a raw socket: it must succeed with the capability and fail
// without it (so the capability line is both enough and needed).
func TestSystemdExporterICMPNeedsOnlyNetRaw(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "changing user and capabilities needs root")
	}
	setpriv := testenv.Binary(t, "setpriv")
	u := systemdLoadUnit(t, "vigie-exporter.service")
	ambient, _ := u.last("Service", "AmbientCapabilities")
	bounding, _ := u.last("Service", "CapabilityBoundingSet")
	if ambient != "CAP_NET_RAW" || bounding != "CAP_NET_RAW" {
		t.Fatalf("the unit grants %q (bounding %q): update this test", ambient, bounding)
	}
	// The unprivileged user must reach the binary and the configuration:
	// t.TempDir's parent is private to root.
	dir, err := os.MkdirTemp("", "vigie-systemd-icmp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "vigie_exporter")
	systemdCopyFile(t, systemdBuildBinary(t, "vigie_exporter"), bin, 0o755)
	config := filepath.Join(dir, "vigie.yml")
	const modules = "modules:\n  icmp_df:\n    prober: icmp\n    timeout: 3s\n    icmp:\n      preferred_ip_protocol: ip4\n      dont_fragment: true\n"
	if err := os.WriteFile(config, []byte(modules), 0o644); err != nil {
		t.Fatal(err)
	}
	// The unit's user does not exist here: nobody stands in for it.
	base := []string{"--reuid=nobody", "--regid=nogroup", "--clear-groups", "--no-new-privs"}
	tests := []struct {
		name    string
		caps    []string
		success string
		reason  string
	}{
		{"with CAP_NET_RAW", []string{"--inh-caps=+net_raw", "--ambient-caps=+net_raw", "--bounding-set=-all,+net_raw"}, "probe_success 1", ""},
		{"without capabilities", []string{"--inh-caps=-all", "--bounding-set=-all"}, "probe_success 0", "operation not permitted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			args := append(append(slices.Clone(base), tc.caps...), bin, "--config.file="+config, "--web.listen-address="+addr)
			cmd := exec.Command(setpriv, args...)
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				if t.Failed() {
					t.Logf("exporter log:\n%s", stderr.String())
				}
			}()
			testenv.WaitForPort(t, addr, 10*time.Second)
			text := grafanaGet(t, "http://"+addr+"/probe?module=icmp_df&target=127.0.0.1&debug=true")
			if !strings.Contains(text, tc.success) {
				t.Fatalf("want %s:\n%s", tc.success, text)
			}
			if tc.reason != "" && !strings.Contains(text, tc.reason) {
				t.Fatalf("the failure does not say %q:\n%s", tc.reason, text)
			}
		})
	}
}

// TestSystemdGrafanaDockerFilesAreChecked keeps "every file in deploy/ is
// checked" true for grafana/, systemd/ and docker/: a file that none of the
// tests above reads fails here until a test covers it.
func TestSystemdGrafanaDockerFilesAreChecked(t *testing.T) {
	checked := map[string]bool{
		grafanaDatasourceFile:    true,
		grafanaProviderFile:      true,
		"systemd/vigie.sysusers": true,
		dockerfilePath:           true,
		dockerComposeYML:         true,
		"docker/vigie.yml":       true,
	}
	for _, su := range systemdUnits {
		checked["systemd/"+su.file] = true
		checked["systemd/"+su.defaults] = true
	}
	covered := func(path string) bool {
		dir, ext := filepath.Dir(path), filepath.Ext(path)
		switch {
		case checked[path]:
			return true
		case dir == filepath.Dir(grafanaDashboardFile) && ext == ".json": // TestGrafanaProvisioning parses each
			return true
		case dir == "docker/targets" && ext == ".yml": // TestDockerExporterConfig decodes each
			return true
		}
		return false
	}
	for _, root := range []string{"grafana", "systemd", "docker"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if !covered(filepath.ToSlash(path)) {
				t.Errorf("deploy/%s is checked by no test: add one (and list it here)", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
