package buildinfo

import (
	"runtime/debug"
	"testing"

	"github.com/prometheus/common/version"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := func(rev, at, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: at}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want Info
	}{
		{
			name: "go build in a clean checkout",
			bi:   debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261205094220-7a53278abcde"}, Settings: vcs("7a53278abcde0123456789abcdef0123456789ab", "2026-12-05T09:42:20Z", "false")},
			want: Info{Version: "0.0.0-20261205094220-7a53278abcde", Revision: "7a53278abcde0123456789abcdef0123456789ab", BuildDate: "20261205-09:42:20"},
		},
		{
			name: "go build in a modified checkout",
			bi:   debug.BuildInfo{Main: debug.Module{Version: "v0.1.1-0.20261205094220-7a53278abcde+dirty"}, Settings: vcs("7a53278abcde0123456789abcdef0123456789ab", "2026-12-05T10:42:20+01:00", "true")},
			want: Info{Version: "0.1.1-0.20261205094220-7a53278abcde+dirty", Revision: "7a53278abcde0123456789abcdef0123456789ab-modified", BuildDate: "20261205-09:42:20"},
		},
		{
			name: "go install of a tagged release",
			bi:   debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}},
			want: Info{Version: "0.2.0"},
		},
		{
			name: "go install of a commit: the pseudo-version names it",
			bi:   debug.BuildInfo{Main: debug.Module{Version: "v0.2.1-0.20261205094220-7a53278abcde"}},
			want: Info{Version: "0.2.1-0.20261205094220-7a53278abcde", Revision: "7a53278abcde", BuildDate: "20261205-09:42:20"},
		},
		{
			name: "no version, no VCS (-buildvcs=false)",
			bi:   debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			want: Info{Version: "(devel)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FromBuildInfo(&tc.bi); got != tc.want {
				t.Errorf("FromBuildInfo = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Fill keeps what -ldflags stamped and fills only what is empty.
func TestFillKeepsStampedValues(t *testing.T) {
	saved := [3]string{version.Version, version.Revision, version.BuildDate}
	t.Cleanup(func() { version.Version, version.Revision, version.BuildDate = saved[0], saved[1], saved[2] })

	version.Version, version.Revision, version.BuildDate = "1.2.3", "", "20260101-00:00:00"
	Fill()
	if version.Version != "1.2.3" || version.BuildDate != "20260101-00:00:00" {
		t.Errorf("stamped values overwritten: version %q, build date %q", version.Version, version.BuildDate)
	}
	version.Version = ""
	Fill()
	if version.Version == "" {
		t.Error("empty version not filled from the build information")
	}
}
