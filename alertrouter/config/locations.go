package config

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// DefaultLocation names the exporter of the exporter block when it sets
// no location (the single-location setup of every release before
// exporters).
const DefaultLocation = "default"

// locationName is what a location may be called: it ends up in metric
// labels, alert labels and one-line messages.
var locationName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// Locations returns the exporters the router probes from, in
// configuration order: the exporter block when the file has it (or when
// it has no exporters list: the default exporter), then the exporters
// list. One location is the router without quorum.
func (c *RouterConfig) Locations() []ExporterConfig {
	if c.locations != nil {
		return c.locations
	}
	x := c.Exporter
	if x.Location == "" {
		x.Location = DefaultLocation
	}
	return []ExporterConfig{x}
}

// MultiLocation reports whether checks are probed from several locations.
func (c *RouterConfig) MultiLocation() bool { return len(c.Locations()) > 1 }

// SDRefreshInterval is how often the target lists are fetched: the
// shortest sd_refresh_interval of the locations whose /sd is used.
func (c *RouterConfig) SDRefreshInterval() time.Duration {
	var d time.Duration
	for _, x := range c.Locations() {
		if x.SDEnabled() && (d == 0 || x.SDRefreshInterval.Std() < d) {
			d = x.SDRefreshInterval.Std()
		}
	}
	if d == 0 {
		d = c.Exporter.SDRefreshInterval.Std()
	}
	return d
}

// SDRemovalGuard is the removal guard of the merged target list: that of
// the first location whose /sd is used.
func (c *RouterConfig) SDRemovalGuard() RemovalGuard {
	for _, x := range c.Locations() {
		if x.SDEnabled() {
			return x.SDRemovalGuard
		}
	}
	return c.Exporter.SDRemovalGuard
}

// QuorumOf is the number of failing locations that fail a round when n
// locations answered: checks.quorum (at most n), or a majority of n.
func (c *ChecksConfig) QuorumOf(n int) int {
	if n <= 0 {
		return 1
	}
	if c.Quorum > 0 {
		return min(c.Quorum, n)
	}
	return n/2 + 1
}

// resolveLocations validates the exporters list and the quorum, and
// builds Locations.
func (c *RouterConfig) resolveLocations() error {
	var locs []ExporterConfig
	seen := map[string]string{} // location → where it is defined
	if c.Exporter.written || len(c.Exporters) == 0 {
		x := c.Exporter
		if x.Location == "" {
			x.Location = DefaultLocation
		} else if !locationName.MatchString(x.Location) {
			return schema.At(badLocation(x.Location), "exporter", "location")
		}
		seen[x.Location] = "exporter"
		locs = append(locs, x)
	}
	for i := range c.Exporters {
		x := &c.Exporters[i]
		if !x.urlWritten {
			// The default exporter on 127.0.0.1 is no location.
			return schema.AtIndex(schema.At(errors.New("url must be set"), "url"), "exporters", i)
		}
		if err := x.validate(c.Checks.Timeout.Std()); err != nil {
			return schema.AtIndex(err, "exporters", i)
		}
		switch {
		case x.Location == "":
			return schema.AtIndex(schema.At(errors.New("location must be set (it names where this exporter probes from)"), "location"), "exporters", i)
		case !locationName.MatchString(x.Location):
			return schema.AtIndex(schema.At(badLocation(x.Location), "location"), "exporters", i)
		case seen[x.Location] != "":
			return schema.AtIndex(schema.At(fmt.Errorf("location %q is defined twice (also in %s)", x.Location, seen[x.Location]), "location"), "exporters", i)
		}
		seen[x.Location] = fmt.Sprintf("exporters[%d]", i)
		locs = append(locs, *x)
	}
	sd := false
	for _, x := range locs {
		sd = sd || x.SDEnabled()
	}
	if !sd {
		key := []string{"exporter", "sd"}
		if len(c.Exporters) > 0 {
			key = []string{"exporters"}
		}
		return schema.At(errors.New("every location has sd: false: the router would have no target list"), key...)
	}
	switch q := c.Checks.Quorum; {
	case q < 0:
		return schema.At(errors.New("must not be negative (0: a majority of the locations that answer)"), "checks", "quorum")
	case q > len(locs):
		return schema.At(fmt.Errorf("quorum %d is more than the %d location(s) configured", q, len(locs)), "checks", "quorum")
	}
	c.locations = locs
	return nil
}

func badLocation(name string) error {
	return fmt.Errorf("location %q must be 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit", name)
}
