package testenv

import (
	"debug/buildinfo"
	"fmt"
	"testing"

	vigiebuild "github.com/vigie-monitoring/vigie/internal/buildinfo"
)

// BuiltVersion is the version a binary built without promu's -ldflags
// reports: what internal/buildinfo reads from the build information the Go
// toolchain recorded in it.
type BuiltVersion struct{ vigiebuild.Info }

// BinaryVersion reads the build information of the binary at path.
func BinaryVersion(t testing.TB, path string) BuiltVersion {
	t.Helper()
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the build information of %s: %v", path, err)
	}
	v := BuiltVersion{vigiebuild.FromBuildInfo(bi)}
	if v.Version == "" {
		t.Fatalf("%s records no module version", path)
	}
	return v
}

// RevisionOrUnknown is the revision as prometheus/common/version prints it.
func (v BuiltVersion) RevisionOrUnknown() string {
	if v.Revision == "" {
		return "unknown"
	}
	return v.Revision
}

// VersionLine is the first line of `program --version`.
func (v BuiltVersion) VersionLine(program string) string {
	return fmt.Sprintf("%s, version %s (branch: , revision: %s)", program, v.Version, v.RevisionOrUnknown())
}
