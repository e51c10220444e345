// Package buildinfo fills the version information of
// github.com/prometheus/common/version from what the Go toolchain records in
// every binary, for builds that did not stamp it with -ldflags (promu and
// `make build` do; plain `go build` and `go install …@version` do not).
package buildinfo

import (
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/common/version"
)

// Info is the version information of a build. A field is empty when the
// build did not record it.
type Info struct {
	Version   string // module version without its "v": "0.1.0", "0.0.0-20260102150405-0123456789ab+dirty", "(devel)"
	Revision  string // VCS commit, "-modified" appended for a dirty tree
	BuildDate string // commit time, in promu's format (20060102-15:04:05)
}

// Fill sets version.Version, version.Revision and version.BuildDate from the
// binary's build information when -ldflags left them empty, and leaves the
// stamped ones alone. Call it first in main, before anything reads them
// (kingpin's --version text, the build_info collector, logs).
func Fill() {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	info := FromBuildInfo(bi)
	if version.Version == "" {
		version.Version = info.Version
	}
	if version.Revision == "" {
		version.Revision = info.Revision
	}
	if version.BuildDate == "" {
		version.BuildDate = info.BuildDate
	}
}

// pseudoVersion matches the end of a Go pseudo-version
// (vX.Y.Z-[pre.]yyyymmddhhmmss-abcdefabcdef), with an optional +dirty.
var pseudoVersion = regexp.MustCompile(`(?:^|[-.])(\d{14})-([0-9a-f]{12})(\+dirty)?$`)

// FromBuildInfo reads a build's version information. A build in a VCS
// checkout records the commit, its time and whether the tree was modified;
// `go install module@version` records only the module version, whose
// pseudo-version form still names the commit and its time.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	var info Info
	// "(devel)" when the toolchain knows no version: said as it is
	// rather than left empty.
	info.Version = strings.TrimPrefix(bi.Main.Version, "v")
	var revision, vcsTime string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			vcsTime = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if m := pseudoVersion.FindStringSubmatch(bi.Main.Version); m != nil {
		if revision == "" {
			revision, modified = m[2], modified || m[3] != ""
		}
		if vcsTime == "" {
			if t, err := time.Parse("20060102150405", m[1]); err == nil {
				vcsTime = t.Format(time.RFC3339)
			}
		}
	}
	if revision != "" {
		info.Revision = revision
		if modified {
			info.Revision += "-modified"
		}
	}
	if t, err := time.Parse(time.RFC3339, vcsTime); err == nil {
		info.BuildDate = t.UTC().Format("20060102-15:04:05")
	}
	return info
}
