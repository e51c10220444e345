package api

import (
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/silence"
)

// The JSON shapes of Alertmanager's API v2 (api/v2/openapi.yaml) that the
// router serves. Field names are the contract with amtool, Prometheus and
// Grafana.

// Status is the answer of GET /api/v2/status.
type Status struct {
	Cluster     ClusterStatus `json:"cluster"`
	VersionInfo VersionInfo   `json:"versionInfo"`
	Config      ConfigStatus  `json:"config"`
	Uptime      time.Time     `json:"uptime"`
}

// ClusterStatus is the router's cluster: "disabled" alone, "ready" or
// "settling" in a cluster (Alertmanager's values).
type ClusterStatus struct {
	Name   string       `json:"name"`
	Status string       `json:"status"`
	Peers  []PeerStatus `json:"peers"`
}

// PeerStatus is a live cluster member.
type PeerStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// VersionInfo is the build of the router.
type VersionInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

// ConfigStatus carries the running configuration, secrets masked.
type ConfigStatus struct {
	Original string `json:"original"`
}

// Receiver names a receiver.
type Receiver struct {
	Name string `json:"name"`
}

// PostableAlert is one alert posted by Prometheus (or amtool alert add).
// A startsAt or endsAt of 0001-01-01T00:00:00Z means "not set".
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// GettableAlert is one alert as the router knows it.
type GettableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
	Fingerprint  string            `json:"fingerprint"`
	Receivers    []Receiver        `json:"receivers"`
	Status       AlertStatus       `json:"status"`
}

// AlertStatus says whether an alert notifies.
type AlertStatus struct {
	// State is "active", "suppressed" (silenced or inhibited) or
	// "unprocessed".
	State       string   `json:"state"`
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
}

// AlertGroup is alerts of one receiver grouped by alertname.
type AlertGroup struct {
	Labels   map[string]string `json:"labels"`
	Receiver Receiver          `json:"receiver"`
	Alerts   []GettableAlert   `json:"alerts"`
}

// Matcher is one matcher of a silence. IsEqual defaults to true when
// absent, as in Alertmanager's API.
type Matcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual *bool  `json:"isEqual,omitempty"`
}

// PostableSilence creates a silence, or updates the one with ID.
type PostableSilence struct {
	ID        string    `json:"id,omitempty"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
}

// GettableSilence is a silence with its state.
type GettableSilence struct {
	ID        string        `json:"id"`
	Status    SilenceStatus `json:"status"`
	UpdatedAt time.Time     `json:"updatedAt"`
	Matchers  []Matcher     `json:"matchers"`
	StartsAt  time.Time     `json:"startsAt"`
	EndsAt    time.Time     `json:"endsAt"`
	CreatedBy string        `json:"createdBy"`
	Comment   string        `json:"comment"`
}

// SilenceStatus is "pending", "active" or "expired".
type SilenceStatus struct {
	State string `json:"state"`
}

// PostSilenceResponse answers POST /api/v2/silences.
type PostSilenceResponse struct {
	SilenceID string `json:"silenceID"`
}

// FromSilence renders a silence for the API, with its state at now.
func FromSilence(s silence.Silence, now time.Time) GettableSilence {
	g := GettableSilence{
		ID: s.ID, Status: SilenceStatus{State: string(s.State(now))}, UpdatedAt: s.UpdatedAt,
		StartsAt: s.StartsAt, EndsAt: s.EndsAt, CreatedBy: s.CreatedBy, Comment: s.Comment,
		Matchers: make([]Matcher, len(s.Matchers)),
	}
	for i, m := range s.Matchers {
		g.Matchers[i] = MatcherFrom(m)
	}
	return g
}

// ToSilence converts a posted silence.
func (p *PostableSilence) ToSilence() silence.Silence {
	s := silence.Silence{
		ID: p.ID, StartsAt: p.StartsAt, EndsAt: p.EndsAt, CreatedBy: p.CreatedBy, Comment: p.Comment,
		Matchers: make([]silence.Matcher, len(p.Matchers)),
	}
	for i, m := range p.Matchers {
		s.Matchers[i] = m.ToSilence()
	}
	return s
}

// ToSilence converts a matcher, applying the isEqual default.
func (m Matcher) ToSilence() silence.Matcher {
	return silence.Matcher{Name: m.Name, Value: m.Value, IsRegex: m.IsRegex, IsEqual: m.IsEqual == nil || *m.IsEqual}
}

// MatcherFrom converts a silence matcher.
func MatcherFrom(m silence.Matcher) Matcher {
	isEqual := m.IsEqual
	return Matcher{Name: m.Name, Value: m.Value, IsRegex: m.IsRegex, IsEqual: &isEqual}
}
