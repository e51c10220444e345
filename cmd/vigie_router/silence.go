package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/alertrouter/api"
	"github.com/vigie-monitoring/vigie/alertrouter/cli"
)

// silenceCommands are `vigie_router silence add|list|expire`, which talk
// to a running router.
type silenceCommands struct {
	routerURL, httpConfig *string
	timeout               *time.Duration

	add             *kingpin.CmdClause
	addMatchers     *[]string
	author, comment *string
	duration        *string
	start, end      *string
	list            *kingpin.CmdClause
	listMatchers    *[]string
	expired, quiet  *bool
	expire          *kingpin.CmdClause
	expireIDs       *[]string
}

func addSilenceCommands(app *kingpin.Application) *silenceCommands {
	c := &silenceCommands{}
	cmd := app.Command("silence", "Add, list and expire silences of a running router (as amtool does).")
	c.routerURL = cmd.Flag("router.url", "The router to talk to.").Default("http://127.0.0.1:9116").Envar("VIGIE_ROUTER_URL").String()
	c.httpConfig = cmd.Flag("http.config.file", "HTTP client configuration (basic_auth, tls_config, … as Prometheus and amtool read it) to reach a router started with --web.config.file.").PlaceHolder("<filename>").String()
	c.timeout = cmd.Flag("timeout", "Timeout of the request.").Default("30s").Duration()

	c.add = cmd.Command("add", "Add a silence; prints its id.")
	c.author = c.add.Flag("author", "Who adds the silence.").Short('a').Default(username()).String()
	c.comment = c.add.Flag("comment", "Why (required).").Short('c').String()
	c.duration = c.add.Flag("duration", "How long the silence lasts (Prometheus duration: 30m, 2h, 1d).").Short('d').Default("1h").String()
	c.start = c.add.Flag("start", "When the silence starts (RFC 3339); default now.").String()
	c.end = c.add.Flag("end", "When the silence ends (RFC 3339); wins over --duration.").String()
	c.addMatchers = c.add.Arg("matchers", `Prometheus matchers: instance="https://shop.example" module=~"http.*"; a first word without operator is the alertname.`).Required().Strings()

	c.list = cmd.Command("list", "List active and pending silences (or expired ones).").Alias("query")
	c.expired = c.list.Flag("expired", "List expired silences instead.").Bool()
	c.quiet = c.list.Flag("quiet", "Print ids only.").Short('q').Bool()
	c.listMatchers = c.list.Arg("matchers", "Only silences whose equality matchers satisfy these matchers.").Strings()

	c.expire = cmd.Command("expire", "Expire silences now.")
	c.expireIDs = c.expire.Arg("ids", "Silence ids.").Required().Strings()
	return c
}

func username() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// run runs the parsed silence command and returns the exit code.
func (c *silenceCommands) run(cmd string, stdout, stderr io.Writer) int {
	if err := c.do(cmd, stdout); err != nil {
		fmt.Fprintln(stderr, "vigie_router:", err)
		return 1
	}
	return 0
}

func (c *silenceCommands) do(cmd string, out io.Writer) error {
	hc, err := cli.HTTPClient(*c.httpConfig)
	if err != nil {
		return err
	}
	client, err := api.NewClient(*c.routerURL, hc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *c.timeout)
	defer cancel()
	switch cmd {
	case c.add.FullCommand():
		o := cli.AddOptions{Matchers: *c.addMatchers, Author: *c.author, Comment: *c.comment}
		d, err := model.ParseDuration(*c.duration)
		if err != nil {
			return fmt.Errorf("bad --duration %q: %w", *c.duration, err)
		}
		o.Duration = time.Duration(d)
		if o.Start, err = parseTime("--start", *c.start); err != nil {
			return err
		}
		if o.End, err = parseTime("--end", *c.end); err != nil {
			return err
		}
		return cli.Add(ctx, client, out, o)
	case c.list.FullCommand():
		return cli.List(ctx, client, out, cli.ListOptions{Matchers: *c.listMatchers, Expired: *c.expired, Quiet: *c.quiet})
	case c.expire.FullCommand():
		return cli.Expire(ctx, client, out, *c.expireIDs)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func parseTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad %s %q: want RFC 3339, e.g. 2026-01-02T15:04:05+01:00", flag, s)
	}
	return t, nil
}
