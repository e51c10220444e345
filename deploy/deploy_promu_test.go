package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// TestPromuBuildsEveryBinary keeps .promu.yml (make tarball) in step with
// the commands in cmd/.
func TestPromuBuildsEveryBinary(t *testing.T) {
	data, err := os.ReadFile("../.promu.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Repository struct{ Path string } `yaml:"repository"`
		Build      struct {
			Binaries []struct{ Name, Path string } `yaml:"binaries"`
			LDFlags  string                        `yaml:"ldflags"`
		} `yaml:"build"`
		Tarball struct{ Files []string } `yaml:"tarball"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Repository.Path != "github.com/vigie-monitoring/vigie" {
		t.Errorf("repository.path = %q", cfg.Repository.Path)
	}
	var want, got []string
	dirs, _ := filepath.Glob("../cmd/*/main.go")
	for _, d := range dirs {
		want = append(want, filepath.Base(filepath.Dir(d)))
	}
	for _, b := range cfg.Build.Binaries {
		got = append(got, b.Name)
		if b.Path != "./cmd/"+b.Name {
			t.Errorf("binary %s built from %s", b.Name, b.Path)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Errorf(".promu.yml builds %v, cmd/ has %v", got, want)
	}
	for _, v := range []string{"Version", "Revision", "Branch", "BuildUser", "BuildDate"} {
		if !strings.Contains(cfg.Build.LDFlags, "github.com/prometheus/common/version."+v+"=") {
			t.Errorf("ldflags do not set version.%s", v)
		}
	}
	for _, f := range cfg.Tarball.Files {
		if _, err := os.Stat(filepath.Join("..", f)); err != nil {
			t.Errorf("tarball file %s: %v", f, err)
		}
	}
}
