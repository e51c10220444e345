package deploy

// Lint tests of deploy/docker and the repository's .dockerignore: the
// compose file's structure and every host path it mounts, the Dockerfile's
// stages, sources and runtime settings, `make docker`, and how they and the
// other deploy/ files fit together (ports, mount points, configuration
// paths). The exporter configuration the compose project uses is checked by
// the real binary. deploy_container_test.go builds and runs the images.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	dockerDir        = "docker"
	dockerComposeYML = "docker/compose.yml"
	dockerfilePath   = "docker/Dockerfile"
)

// dockerCompose is the subset of the Compose specification the project
// uses; decoding is strict, so a misspelt or unexpected key fails.
type dockerCompose struct {
	Name     string                        `yaml:"name"`
	Services map[string]dockerService      `yaml:"services"`
	Volumes  map[string]*dockerNamedVolume `yaml:"volumes"`
	Networks map[string]map[string]any     `yaml:"networks"`
	Configs  map[string]map[string]any     `yaml:"configs"`
	Secrets  map[string]map[string]any     `yaml:"secrets"`
	X        map[string]any                `yaml:",inline"` // x-… extensions only
}

type dockerNamedVolume struct {
	Driver string `yaml:"driver"`
}

type dockerService struct {
	Image       string            `yaml:"image"`
	Build       *dockerBuild      `yaml:"build"`
	Restart     string            `yaml:"restart"`
	NetworkMode string            `yaml:"network_mode"`
	DependsOn   []string          `yaml:"depends_on"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Sysctls     map[string]string `yaml:"sysctls"`
	CapAdd      []string          `yaml:"cap_add"`
	User        string            `yaml:"user"`
}

type dockerBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Target     string            `yaml:"target"`
	Args       map[string]string `yaml:"args"`
}

// dockerMount is one short-syntax volume entry.
type dockerMount struct {
	Source, Target string
	ReadOnly       bool
	Bind           bool // a host path, not a named volume
}

func dockerParseMount(s string) (dockerMount, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return dockerMount{}, fmt.Errorf("volume %q is not source:target[:mode]", s)
	}
	m := dockerMount{Source: parts[0], Target: parts[1]}
	if len(parts) == 3 {
		if parts[2] != "ro" && parts[2] != "rw" {
			return m, fmt.Errorf("volume %q: mode %q is not ro or rw", s, parts[2])
		}
		m.ReadOnly = parts[2] == "ro"
	}
	m.Bind = strings.HasPrefix(m.Source, ".") || strings.HasPrefix(m.Source, "/")
	if !path.IsAbs(m.Target) {
		return m, fmt.Errorf("volume %q: the target must be an absolute path", s)
	}
	return m, nil
}

func dockerLoadCompose(t *testing.T) *dockerCompose {
	t.Helper()
	f, err := os.Open(dockerComposeYML)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var c dockerCompose
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", dockerComposeYML, err)
	}
	for k := range c.X {
		if !strings.HasPrefix(k, "x-") {
			t.Fatalf("%s: unknown top-level key %q", dockerComposeYML, k)
		}
	}
	return &c
}

// dockerPending collects references to files that do not exist, so that
// every other check still runs before the test fails.
type dockerPending struct{ refs []string }

func (p *dockerPending) missing(ref string) { p.refs = append(p.refs, ref) }

func (p *dockerPending) failIfAny(t *testing.T) {
	t.Helper()
	if len(p.refs) > 0 && !t.Failed() {
		t.Fatalf("referenced but missing: %s", strings.Join(p.refs, ", "))
	}
}

// dockerOtherBranchPaths are the compose references allowed to be missing
// until their branch is merged.
var dockerOtherBranchPaths = []string{"../prometheus", "../consul"}

// dockerServicePorts is where each service listens (in the shared network
// namespace): the exporter service must publish all of them.
var dockerServicePorts = map[string]string{
	"exporter":   "9115",
	"router":     "9116",
	"prometheus": "9090",
	"grafana":    "3000",
	"consul":     "8500",
}

func TestDockerCompose(t *testing.T) {
	c := dockerLoadCompose(t)
	pending := &dockerPending{}
	if c.Name == "" {
		t.Error("the project has no name")
	}
	for name := range dockerServicePorts {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %q is missing", name)
		}
	}
	stages := dockerParseFile(t, dockerfilePath).stageNames()
	usedVolumes := map[string]bool{}
	for name, s := range c.Services {
		where := "service " + name
		switch {
		case s.Build != nil:
			ctx := filepath.Join(dockerDir, s.Build.Context)
			if st, err := os.Stat(ctx); err != nil || !st.IsDir() {
				t.Errorf("%s: build context %s is not a directory", where, s.Build.Context)
			}
			df := filepath.Join(ctx, s.Build.Dockerfile)
			if abs, _ := filepath.Abs(df); abs != dockerMustAbs(t, dockerfilePath) {
				t.Errorf("%s: build.dockerfile %s (from context %s) is not deploy/docker/Dockerfile", where, s.Build.Dockerfile, s.Build.Context)
			}
			if !slices.Contains(stages, s.Build.Target) {
				t.Errorf("%s: build.target %q is not a stage of the Dockerfile (%q)", where, s.Build.Target, stages)
			}
		case s.Image == "":
			t.Errorf("%s: neither image nor build", where)
		default:
			if err := dockerCheckImagePinned(s.Image); err != nil {
				t.Errorf("%s: %v", where, err)
			}
		}
		if s.Restart != "" && !slices.Contains([]string{"no", "always", "on-failure", "unless-stopped"}, s.Restart) {
			t.Errorf("%s: restart %q", where, s.Restart)
		}
		for _, dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s: depends_on %q, which is not a service", where, dep)
			}
		}
		if owner, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
			o, exists := c.Services[owner]
			switch {
			case !exists:
				t.Errorf("%s: network_mode %s names no service", where, s.NetworkMode)
			case o.NetworkMode != "":
				t.Errorf("%s: joins %s, which itself joins %s", where, owner, o.NetworkMode)
			}
			if len(s.Ports) > 0 {
				t.Errorf("%s: a service in another's network namespace cannot publish ports (Docker refuses it)", where)
			}
		} else if s.NetworkMode != "" {
			t.Errorf("%s: network_mode %q: the services share the exporter's namespace", where, s.NetworkMode)
		}
		for _, v := range s.Volumes {
			m, err := dockerParseMount(v)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if !m.Bind {
				usedVolumes[m.Source] = true
				if _, declared := c.Volumes[m.Source]; !declared {
					t.Errorf("%s: named volume %q is not declared under volumes:", where, m.Source)
				}
				continue
			}
			if filepath.IsAbs(m.Source) {
				t.Errorf("%s: %s: host paths must be relative to the repository", where, v)
				continue
			}
			if _, err := os.Stat(filepath.Join(dockerDir, m.Source)); err != nil {
				if slices.Contains(dockerOtherBranchPaths, m.Source) {
					pending.missing(m.Source)
				} else {
					t.Errorf("%s: %s: %v", where, v, err)
				}
			}
			if !m.ReadOnly {
				t.Errorf("%s: %s: mount host files read-only", where, v)
			}
		}
	}
	for name := range c.Volumes {
		if !usedVolumes[name] {
			t.Errorf("volume %q is declared but no service uses it", name)
		}
	}

	// Ports: all published by the namespace owner, on loopback, and each
	// service listens where it is published.
	owner := c.Services["exporter"]
	published := map[string]bool{}
	for _, p := range owner.Ports {
		m := regexp.MustCompile(`^127\.0\.0\.1:(\d+):(\d+)$`).FindStringSubmatch(p)
		if m == nil || m[1] != m[2] {
			t.Errorf("exporter: port %q must be 127.0.0.1:N:N (loopback only, same port)", p)
			continue
		}
		published[m[1]] = true
	}
	for svc, port := range dockerServicePorts {
		if !published[port] {
			t.Errorf("port %s of %s is not published", port, svc)
		}
		if svc != "exporter" && c.Services[svc].NetworkMode != "service:exporter" {
			t.Errorf("%s does not share the exporter's network namespace", svc)
		}
	}
	pending.failIfAny(t)
}

func dockerMustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// dockerCheckImagePinned refuses images without a tag or on latest: the
// compose project must start the same thing tomorrow.
func dockerCheckImagePinned(image string) error {
	ref := image
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	name, tag, ok := strings.Cut(ref, ":")
	if at := strings.Index(ref, "@sha256:"); at >= 0 {
		return nil
	}
	if !ok || tag == "" || tag == "latest" || name == "" {
		return fmt.Errorf("image %q is not pinned to a version tag", image)
	}
	return nil
}

// dockerMountSource maps a path inside a service's container back to the
// repository through its bind mounts ("" when no mount covers it).
func dockerMountSource(s dockerService, inContainer string) string {
	for _, v := range s.Volumes {
		m, err := dockerParseMount(v)
		if err != nil || !m.Bind {
			continue
		}
		if inContainer == m.Target {
			return filepath.Join(dockerDir, m.Source)
		}
		if rest, ok := strings.CutPrefix(inContainer, m.Target+"/"); ok {
			return filepath.Join(dockerDir, m.Source, rest)
		}
	}
	return ""
}

// TestDockerComposeFitsTheOtherFiles checks that what each service is told
// to read is where the shipped files put it.
func TestDockerComposeFitsTheOtherFiles(t *testing.T) {
	c := dockerLoadCompose(t)
	df := dockerParseFile(t, dockerfilePath)
	pending := &dockerPending{}

	// The exporter reads vigie.yml from its working directory.
	exporter := c.Services["exporter"]
	workdir := df.stage(t, "exporter").last("WORKDIR")
	if src := dockerMountSource(exporter, path.Join(workdir, "vigie.yml")); src != filepath.Join(dockerDir, "vigie.yml") {
		t.Errorf("exporter: %s/vigie.yml (the default configuration in the image's WORKDIR) is not mounted from deploy/docker/vigie.yml (got %q)", workdir, src)
	}
	// Its static discovery globs resolve inside a mounted directory.
	cfg := dockerExporterConfig(t)
	for _, st := range cfg.Discovery.Static {
		for _, glob := range st.Files {
			src := dockerMountSource(exporter, path.Join(workdir, glob))
			matches, _ := filepath.Glob(src)
			if src == "" || len(matches) == 0 {
				t.Errorf("exporter: discovery file glob %q matches no mounted file", glob)
			}
		}
	}
	for _, cs := range cfg.Discovery.Consul {
		if !strings.HasSuffix(cs.Server, ":"+dockerServicePorts["consul"]) {
			t.Errorf("exporter: consul server %q is not the compose project's agent (port %s)", cs.Server, dockerServicePorts["consul"])
		}
	}

	// Prometheus reads the configuration of deploy/prometheus.
	prom := c.Services["prometheus"]
	var promConfig string
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			promConfig = v
		}
	}
	if src := dockerMountSource(prom, promConfig); src == "" {
		t.Errorf("prometheus: --config.file=%s is not inside a bind mount", promConfig)
	} else if _, err := os.Stat(src); os.IsNotExist(err) {
		pending.missing(src)
	} else if err != nil {
		t.Error(err)
	}

	// Consul loads deploy/consul.
	consul := c.Services["consul"]
	for _, a := range consul.Command {
		if v, ok := strings.CutPrefix(a, "-config-dir="); ok {
			if src := dockerMountSource(consul, v); src == "" {
				t.Errorf("consul: -config-dir=%s is not inside a bind mount", v)
			}
		}
	}

	// Grafana: the provisioning directory, the dashboards where the
	// provider looks, the home dashboard, the data source on Prometheus's
	// port.
	grafana := c.Services["grafana"]
	if src := dockerMountSource(grafana, "/etc/grafana/provisioning"); src != filepath.Join(dockerDir, "../grafana/provisioning") {
		t.Errorf("grafana: /etc/grafana/provisioning is not mounted from deploy/grafana/provisioning (got %q)", src)
	}
	var pv grafanaProvidersFile
	grafanaDecodeStrict(t, grafanaProviderFile, &pv)
	for _, p := range pv.Providers {
		if src := dockerMountSource(grafana, p.Options.Path); src != filepath.Join(dockerDir, "../grafana/dashboards") {
			t.Errorf("grafana: the provider's path %s is not mounted from deploy/grafana/dashboards (got %q)", p.Options.Path, src)
		}
	}
	if home := grafana.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		if _, err := os.Stat(dockerMountSource(grafana, home)); err != nil {
			t.Errorf("grafana: home dashboard %s: %v", home, err)
		}
	}
	var ds grafanaDatasourcesFile
	grafanaDecodeStrict(t, grafanaDatasourceFile, &ds)
	for _, d := range ds.Datasources {
		if d.URL != "http://127.0.0.1:"+dockerServicePorts["prometheus"] {
			t.Errorf("grafana: data source url %s is not Prometheus in the shared namespace", d.URL)
		}
	}

	// The router's state: the image's volume, its --storage.path and the
	// compose volume are one directory.
	router := df.stage(t, "router")
	state := router.last("VOLUME")
	var volumes []string
	if err := json.Unmarshal([]byte(state), &volumes); err != nil || len(volumes) != 1 {
		t.Fatalf("router stage: VOLUME %s is not a JSON list of one path", state)
	}
	if cmd := router.execForm(t, "CMD"); !slices.Contains(cmd, "--storage.path="+volumes[0]) {
		t.Errorf("router stage: CMD %q does not store in its VOLUME %s", cmd, volumes[0])
	}
	var mounted bool
	for _, v := range c.Services["router"].Volumes {
		if m, err := dockerParseMount(v); err == nil && !m.Bind && m.Target == volumes[0] {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("router: no named volume on %s: its state would not survive a recreate", volumes[0])
	}
	pending.failIfAny(t)
}

// dockerExporterConfigFile is the part of the exporter configuration the
// compose checks read.
type dockerExporterConfigFile struct {
	Modules   map[string]any `yaml:"modules"`
	Discovery struct {
		Static []struct {
			Files []string `yaml:"files"`
		} `yaml:"static"`
		Consul []struct {
			Server string   `yaml:"server"`
			Tags   []string `yaml:"tags"`
		} `yaml:"consul"`
	} `yaml:"discovery"`
}

func dockerExporterConfig(t *testing.T) dockerExporterConfigFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dockerDir, "vigie.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg dockerExporterConfigFile
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDockerExporterConfig has the real exporter check the compose
// project's configuration, and checks the static target files (strictly:
// the keys the discovery format has) against its modules.
func TestDockerExporterConfig(t *testing.T) {
	bin := systemdBuildBinary(t, "vigie_exporter")
	cmd := exec.Command(bin, "--config.check", "--config.file=vigie.yml")
	cmd.Dir = dockerDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vigie_exporter --config.check: %v\n%s", err, out)
	}
	cfg := dockerExporterConfig(t)
	files, err := filepath.Glob(filepath.Join(dockerDir, "targets", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no target files in deploy/docker/targets: %v", err)
	}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		dec.KnownFields(true)
		var groups []struct {
			Targets []string          `yaml:"targets"`
			Modules []string          `yaml:"modules"`
			Labels  map[string]string `yaml:"labels"`
		}
		err = dec.Decode(&groups)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		for i, g := range groups {
			if len(g.Targets) == 0 || len(g.Modules) == 0 {
				t.Errorf("%s: group %d has no targets or no modules", file, i)
			}
			for _, m := range g.Modules {
				if _, ok := cfg.Modules[m]; !ok {
					t.Errorf("%s: group %d uses module %q, which vigie.yml does not define", file, i, m)
				}
			}
		}
	}
}

// dockerInstruction is one Dockerfile instruction, continuations joined.
type dockerInstruction struct {
	Line int
	Cmd  string // upper case
	Args string
}

type dockerStage struct {
	Name         string
	Image        string
	Instructions []dockerInstruction
}

type dockerfile struct {
	GlobalArgs map[string]string
	Stages     []dockerStage
}

var dockerInstructions = []string{"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}

// dockerParse reads a Dockerfile: parser directives and comments are
// skipped, backslash continuations joined (comment lines inside them are
// dropped, as Docker does).
func dockerParse(text string) (*dockerfile, error) {
	df := &dockerfile{GlobalArgs: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	var cur strings.Builder
	start := 0
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		full := cur.String()
		cur.Reset()
		cmd, args, _ := strings.Cut(full, " ")
		in := dockerInstruction{Line: start, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if !slices.Contains(dockerInstructions, in.Cmd) {
			return nil, fmt.Errorf("line %d: unknown instruction %q", in.Line, cmd)
		}
		switch {
		case in.Cmd == "FROM":
			f := strings.Fields(in.Args)
			st := dockerStage{}
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			switch {
			case len(f) == 1:
				st.Image = f[0]
			case len(f) == 3 && strings.EqualFold(f[1], "AS"):
				st.Image, st.Name = f[0], f[2]
			default:
				return nil, fmt.Errorf("line %d: FROM %s: want image [AS name]", in.Line, in.Args)
			}
			df.Stages = append(df.Stages, st)
		case len(df.Stages) == 0:
			if in.Cmd != "ARG" {
				return nil, fmt.Errorf("line %d: %s before the first FROM", in.Line, in.Cmd)
			}
			k, v, _ := strings.Cut(in.Args, "=")
			df.GlobalArgs[k] = v
		default:
			st := &df.Stages[len(df.Stages)-1]
			st.Instructions = append(st.Instructions, in)
		}
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("continuation at the end of the file")
	}
	if len(df.Stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return df, sc.Err()
}

func dockerParseFile(t *testing.T, p string) *dockerfile {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	df, err := dockerParse(string(raw))
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return df
}

func (df *dockerfile) stageNames() []string {
	var names []string
	for _, s := range df.Stages {
		names = append(names, s.Name)
	}
	return names
}

func (df *dockerfile) stage(t *testing.T, name string) *dockerStage {
	t.Helper()
	for i := range df.Stages {
		if df.Stages[i].Name == name {
			return &df.Stages[i]
		}
	}
	t.Fatalf("the Dockerfile has no stage %q", name)
	return nil
}

// last returns the arguments of the stage's last cmd instruction.
func (s *dockerStage) last(cmd string) string {
	var v string
	for _, in := range s.Instructions {
		if in.Cmd == cmd {
			v = in.Args
		}
	}
	return v
}

// execForm returns a CMD/ENTRYPOINT given in exec (JSON) form.
func (s *dockerStage) execForm(t *testing.T, cmd string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(s.last(cmd)), &v); err != nil {
		t.Fatalf("stage %s: %s %s is not in exec (JSON) form: %v", s.Name, cmd, s.last(cmd), err)
	}
	return v
}

// dockerRuntimeStages are the images the Dockerfile ships, by binary.
var dockerRuntimeStages = []struct{ stage, command, port string }{
	{"exporter", "vigie_exporter", "9115"},
	{"router", "vigie_router", "9116"},
}

// dockerPromuBinaries are the binaries .promu.yml builds.
func dockerPromuBinaries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../.promu.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Build struct {
			Binaries []struct{ Name string } `yaml:"binaries"`
		} `yaml:"build"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range cfg.Build.Binaries {
		names = append(names, b.Name)
	}
	return names
}

// dockerGeneratedInputs are the build context paths `make docker` makes
// before building (the Dockerfile's ARG defaults expanded): promu's
// binaries and scripts/docker-rootfs.sh's tree.
func dockerGeneratedInputs(t *testing.T, args map[string]string) []string {
	t.Helper()
	var inputs []string
	for _, b := range dockerPromuBinaries(t) {
		inputs = append(inputs, dockerExpandArgs(".build/${OS}-${ARCH}/", args)+b)
	}
	return append(inputs, ".build/docker-rootfs/base/", ".build/docker-rootfs/state/")
}

func TestDockerfile(t *testing.T) {
	df := dockerParseFile(t, dockerfilePath)
	if df.GlobalArgs["OS"] != `"linux"` || df.GlobalArgs["ARCH"] == "" {
		t.Errorf("global ARG OS=%s ARCH=%s: want the Prometheus pair (OS=\"linux\", ARCH=…)", df.GlobalArgs["OS"], df.GlobalArgs["ARCH"])
	}
	args := map[string]string{}
	for k, v := range df.GlobalArgs {
		args[k] = strings.Trim(v, `"`)
	}
	generated := dockerGeneratedInputs(t, args)
	names := map[string]bool{}
	for i, st := range df.Stages {
		if st.Name == "" {
			t.Errorf("stage %d has no name: name every stage", i)
		} else if names[st.Name] {
			t.Errorf("stage name %q is used twice", st.Name)
		}
		// Built without a registry: from scratch or from an earlier stage.
		if st.Image != "scratch" && !names[st.Image] {
			t.Errorf("stage %s: FROM %s: the images build from scratch or an earlier stage (no registry)", st.Name, st.Image)
		}
		for _, in := range st.Instructions {
			switch in.Cmd {
			case "COPY":
				dockerCheckCopy(t, in, names, args, generated)
			case "ADD":
				t.Errorf("line %d: use COPY (ADD fetches URLs and unpacks archives)", in.Line)
			case "RUN":
				t.Errorf("line %d: RUN: a scratch image has no shell; prepare files before the build", in.Line)
			}
		}
		names[st.Name] = true
	}

	for _, rs := range dockerRuntimeStages {
		t.Run(rs.stage, func(t *testing.T) {
			st := df.stage(t, rs.stage)
			if !slices.Contains(dockerPromuBinaries(t), rs.command) {
				t.Errorf(".promu.yml does not build %s", rs.command)
			}
			if user := st.last("USER"); user != "nobody" {
				t.Errorf("USER %q: the image runs as nobody (the base's passwd has it)", user)
			}
			if !slices.Contains(strings.Fields(st.last("EXPOSE")), rs.port) {
				t.Errorf("EXPOSE %q does not include %s", st.last("EXPOSE"), rs.port)
			}
			entry := st.execForm(t, "ENTRYPOINT")
			if len(entry) != 1 {
				t.Fatalf("ENTRYPOINT %q: want the binary alone", entry)
			}
			var copied bool
			for _, in := range st.Instructions {
				f := strings.Fields(in.Args)
				if in.Cmd == "COPY" && len(f) == 2 && f[0] == ".build/${OS}-${ARCH}/"+rs.command && f[1] == entry[0] {
					copied = true
				}
			}
			if !copied {
				t.Errorf("ENTRYPOINT %s is not promu's binary (.build/${OS}-${ARCH}/%s) copied there", entry[0], rs.command)
			}
			if !path.IsAbs(st.last("WORKDIR")) {
				t.Errorf("WORKDIR %q must be absolute", st.last("WORKDIR"))
			}
			// The flags of CMD exist.
			if st.last("CMD") == "" {
				return
			}
			cmdArgs := st.execForm(t, "CMD")
			if !systemdHaveCommand(rs.command) {
				t.Fatalf("CMD %q: cmd/%s does not exist", cmdArgs, rs.command)
			}
			flags := systemdFlags(t, systemdBuildBinary(t, rs.command))
			for _, name := range systemdUsedFlags(strings.Join(cmdArgs, " ")) {
				if !flags[name] {
					t.Errorf("CMD uses --%s, which %s does not have", name, rs.command)
				}
			}
		})
	}
}

// TestMakeDockerFitsTheDockerfile checks that `make docker` makes the
// build context's generated inputs where the Dockerfile copies them from
// (the files themselves are built and run by TestContainers).
func TestMakeDockerFitsTheDockerfile(t *testing.T) {
	cmd := exec.Command("make", "--no-print-directory", "-n", "-C", "..", "docker", "DOCKER_ARCH=amd64")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n docker: %v\n%s", err, out)
	}
	for _, want := range []string{
		"scripts/promu.sh build --prefix .build/linux-amd64",
		"scripts/docker-rootfs.sh .build/docker-rootfs",
		"build -f deploy/docker/Dockerfile --build-arg OS=linux --build-arg ARCH=amd64",
		"--target $target",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make docker does not run %q:\n%s", want, out)
		}
	}
	for _, rs := range dockerRuntimeStages {
		if !strings.Contains(string(out), rs.stage) {
			t.Errorf("make docker does not build the %s image:\n%s", rs.stage, out)
		}
	}
}

// dockerCheckCopy checks a COPY: --from names an earlier stage; a source
// from the build context is a file of the repository or one of the inputs
// `make docker` generates, and .dockerignore keeps it in the context.
func dockerCheckCopy(t *testing.T, in dockerInstruction, earlier map[string]bool, args map[string]string, generated []string) {
	t.Helper()
	f := strings.Fields(in.Args)
	from := ""
	for len(f) > 0 && strings.HasPrefix(f[0], "--") {
		if v, ok := strings.CutPrefix(f[0], "--from="); ok {
			from = v
		}
		f = f[1:]
	}
	if len(f) < 2 {
		t.Errorf("line %d: COPY %s: want sources and a destination", in.Line, in.Args)
		return
	}
	if from != "" {
		if !earlier[from] {
			t.Errorf("line %d: COPY --from=%s: no earlier stage has that name", in.Line, from)
		}
		return
	}
	ignore := dockerIgnorePatterns(t)
	for _, src := range f[:len(f)-1] {
		src = dockerExpandArgs(src, args)
		if strings.HasPrefix(src, ".build/") {
			if !slices.Contains(generated, src) {
				t.Errorf("line %d: COPY source %s is not made by make docker (%q)", in.Line, src, generated)
			}
		} else if _, err := os.Stat(filepath.Join("..", src)); err != nil {
			t.Errorf("line %d: COPY source %s does not exist in the build context (the repository root)", in.Line, src)
		}
		if p := dockerIgnored(ignore, src); p != "" {
			t.Errorf("line %d: COPY source %s is excluded by .dockerignore (%s)", in.Line, src, p)
		}
	}
}

var dockerArgRef = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

func dockerExpandArgs(s string, args map[string]string) string {
	return dockerArgRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := dockerArgRef.FindStringSubmatch(m)
		return args[sub[1]+sub[2]]
	})
}

// dockerIgnorePatterns reads the repository's .dockerignore: plain patterns
// and !exceptions. ** is not supported: the test says so when the file needs
// it, rather than guessing.
func dockerIgnorePatterns(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../.dockerignore")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Contains(line, "**") {
			t.Fatalf(".dockerignore: %q: this test does not understand **; extend dockerIgnored", line)
		}
		neg := strings.HasPrefix(line, "!")
		p := strings.Trim(path.Clean(strings.TrimPrefix(line, "!")), "/")
		if neg {
			p = "!" + p
		}
		patterns = append(patterns, p)
	}
	return patterns
}

// dockerIgnored returns the pattern that leaves p out of the build context,
// "" when p is in it. As Docker does, a pattern matches a path or any of its
// parent directories, the last matching pattern decides, and a !pattern
// brings back what an earlier one excluded.
func dockerIgnored(patterns []string, p string) string {
	p = strings.Trim(path.Clean(p), "/")
	if p == "." {
		return ""
	}
	excludedBy := ""
	for _, pat := range patterns {
		neg := strings.HasPrefix(pat, "!")
		pat = strings.TrimPrefix(pat, "!")
		for q := p; q != "." && q != ""; q = path.Dir(q) {
			if ok, _ := path.Match(pat, q); ok {
				if neg {
					excludedBy = ""
				} else {
					excludedBy = pat
				}
				break
			}
		}
	}
	return excludedBy
}

// TestDockerIgnoreKeepsTheImageInputs checks that .dockerignore keeps in
// the context what the images are made of (promu's binaries, the base's
// files) and leaves out .git and the rest of .build (promu itself, other
// outputs).
func TestDockerIgnoreKeepsTheImageInputs(t *testing.T) {
	patterns := dockerIgnorePatterns(t)
	if len(patterns) == 0 {
		t.Fatal(".dockerignore is missing or empty: the context would include .git and build outputs")
	}
	for _, arch := range []string{"amd64", "arm64"} {
		generated := dockerGeneratedInputs(t, map[string]string{"OS": "linux", "ARCH": arch})
		for _, in := range append(generated, ".build/docker-rootfs/base/etc/passwd") {
			if p := dockerIgnored(patterns, in); p != "" {
				t.Errorf("%s is an image input but .dockerignore excludes it (%s)", in, p)
			}
		}
	}
	for _, out := range []string{".git", ".git/config", ".build/tools/promu-v0.20.0", ".build/vigie_exporter", ".tarballs/x.tar.gz", "vigie_exporter"} {
		if dockerIgnored(patterns, out) == "" {
			t.Errorf(".dockerignore keeps %s in the build context", out)
		}
	}
}

func TestDockerParsers(t *testing.T) {
	df, err := dockerParse("# syntax=docker/dockerfile:1\nARG V=1\nFROM a:${V} AS b\n# c\nRUN x \\\n  # dropped\n  y\nFROM b AS c\nCOPY --from=b /o /o\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(df.Stages) != 2 || df.Stages[0].Instructions[0].Args != "x  y" || df.GlobalArgs["V"] != "1" {
		t.Fatalf("parsed %+v", df)
	}
	for _, bad := range []string{"RUN x\n", "FROM a AS\n", "FROM a\nRUN x \\\n", "FROM a\nRUNN x\n"} {
		if _, err := dockerParse(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	for image, ok := range map[string]bool{"golang:1.26": true, "prom/prometheus:v3.5.0": true, "a@sha256:00": true,
		"grafana/grafana": false, "x:latest": false, "localhost:5000/x": false} {
		if err := dockerCheckImagePinned(image); (err == nil) != ok {
			t.Errorf("%s: pinned check = %v", image, err)
		}
	}
	patterns := []string{".git", "vigie_exporter", ".build", "!.build/linux-amd64", "!.build/docker-rootfs"}
	for _, tc := range []struct{ path, want string }{
		{".git/config", ".git"}, {"vigie_exporter", "vigie_exporter"}, {"cmd/vigie_exporter/main.go", ""}, {".", ""},
		{".build/tools/promu", ".build"}, {".build/linux-amd64/vigie_router", ""}, {".build/docker-rootfs/base/etc/group", ""},
		{".build/linux-arm64/vigie_router", ".build"},
	} {
		if got := dockerIgnored(patterns, tc.path); got != tc.want {
			t.Errorf("dockerIgnored(%s) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// TestDockerHadolint lints the Dockerfile with hadolint when it is
// installed (it is not a Debian package; nothing installs it here).
func TestDockerHadolint(t *testing.T) {
	hadolint, err := exec.LookPath("hadolint")
	if err != nil {
		t.Skip("SKIPPING: hadolint is not installed (not packaged by Debian); the Dockerfile is linted by TestDockerfile")
	}
	if out, err := exec.Command(hadolint, dockerfilePath).CombinedOutput(); err != nil {
		t.Fatalf("hadolint: %v\n%s", err, out)
	}
}
