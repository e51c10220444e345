// Package cli holds the `vigie_router silence` commands: they talk to a
// running router over its Alertmanager-compatible API, like amtool does.
// cmd/vigie_router only parses flags and calls them.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/alertrouter/api"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
)

// HTTPClient builds the client used to reach the router: the Prometheus
// HTTP client configuration in file (basic_auth, tls_config, …, as
// amtool's --http.config.file), or a plain client when file is "".
func HTTPClient(file string) (*http.Client, error) {
	if file == "" {
		return &http.Client{}, nil
	}
	cfg, _, err := pconfig.LoadHTTPConfigFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot load the HTTP client configuration %s: %w", file, err)
	}
	hc, err := pconfig.NewClientFromConfig(*cfg, "vigie_router")
	if err != nil {
		return nil, fmt.Errorf("bad HTTP client configuration %s: %w", file, err)
	}
	return hc, nil
}

// AddOptions are the arguments of `silence add`.
type AddOptions struct {
	// Matchers in Prometheus syntax; a first argument without an operator
	// is the alertname, as in amtool.
	Matchers []string
	Author   string
	Comment  string
	// Start is when the silence starts (zero: now); End, when given, wins
	// over Duration.
	Start    time.Time
	End      time.Time
	Duration time.Duration
	Now      func() time.Time
}

// Add creates a silence and prints its id.
func Add(ctx context.Context, c *api.Client, out io.Writer, o AddOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	args := o.Matchers
	if len(args) > 0 && !strings.ContainsAny(args[0], "=!~") {
		args = append([]string{"alertname=" + args[0]}, args[1:]...)
	}
	if len(args) == 0 {
		return errors.New("no matcher given: say what to silence, e.g. 'instance=\"https://shop.example\"'")
	}
	ms, err := silence.ParseMatchers(args...)
	if err != nil {
		return err
	}
	if strings.TrimSpace(o.Comment) == "" {
		return errors.New("a comment is required (--comment): say why, for whoever is on call")
	}
	if strings.TrimSpace(o.Author) == "" {
		return errors.New("an author is required (--author)")
	}
	start := o.Start
	if start.IsZero() {
		start = o.Now()
	}
	end := o.End
	if end.IsZero() {
		if o.Duration <= 0 {
			return errors.New("--duration must be positive")
		}
		end = start.Add(o.Duration)
	}
	if !end.After(start) {
		return fmt.Errorf("the silence would end (%s) before it starts (%s)", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	ps := &api.PostableSilence{StartsAt: start, EndsAt: end, CreatedBy: o.Author, Comment: o.Comment}
	for _, m := range ms {
		ps.Matchers = append(ps.Matchers, api.MatcherFrom(m))
	}
	id, err := c.PostSilence(ctx, ps)
	if err != nil {
		return fmt.Errorf("cannot create the silence: %w", err)
	}
	fmt.Fprintln(out, id)
	return nil
}

// ListOptions are the arguments of `silence list`.
type ListOptions struct {
	// Matchers filter silences by the labels their equality matchers name.
	Matchers []string
	// Expired lists expired silences instead of active and pending ones.
	Expired bool
	// Quiet prints only ids.
	Quiet bool
	Now   func() time.Time
}

// List prints silences as a table (or ids only).
func List(ctx context.Context, c *api.Client, out io.Writer, o ListOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, m := range o.Matchers {
		if _, err := silence.ParseMatchers(m); err != nil {
			return err
		}
	}
	list, err := c.Silences(ctx, o.Matchers)
	if err != nil {
		return fmt.Errorf("cannot list silences: %w", err)
	}
	var shown []api.GettableSilence
	for _, s := range list {
		if (s.Status.State == string(silence.Expired)) == o.Expired {
			shown = append(shown, s)
		}
	}
	if o.Quiet {
		for _, s := range shown {
			fmt.Fprintln(out, s.ID)
		}
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMatchers\tState\tStarts At\tEnds At\tCreated By\tComment")
	for _, s := range shown {
		ms := make([]string, len(s.Matchers))
		for i, m := range s.Matchers {
			ms[i] = m.ToSilence().String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, strings.Join(ms, " "), s.Status.State,
			s.StartsAt.Local().Format("2006-01-02 15:04:05 MST"), s.EndsAt.Local().Format("2006-01-02 15:04:05 MST"),
			s.CreatedBy, oneLine(s.Comment))
	}
	return tw.Flush()
}

// Expire ends silences now, printing each id expired. Every id is tried;
// the error names those that failed.
func Expire(ctx context.Context, c *api.Client, out io.Writer, ids []string) error {
	if len(ids) == 0 {
		return errors.New("no silence id given")
	}
	var errs []error
	for _, id := range ids {
		if err := c.ExpireSilence(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("cannot expire %s: %w", id, err))
			continue
		}
		fmt.Fprintln(out, id)
	}
	return errors.Join(errs...)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
