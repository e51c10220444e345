package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vigie-monitoring/vigie/alertrouter"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/internal/webserver"
)

// testNotificationCommand is `vigie_router test-notification --receiver
// NAME`: it reads the router's configuration file (--config.file), builds
// the receiver's integrations as the router does and sends a test message
// through each, as Grafana's "test contact point" does. It needs no
// running router.
type testNotificationCommand struct {
	cmd      *kingpin.CmdClause
	receiver *string
}

func addTestNotificationCommand(app *kingpin.Application) *testNotificationCommand {
	c := &testNotificationCommand{}
	c.cmd = app.Command("test-notification", "Send a test notification through every integration of a receiver of the configuration file (--config.file) and print what each provider answered; exits 1 if any refused it.")
	c.receiver = c.cmd.Flag("receiver", "The receiver to test (its name in the configuration).").Required().String()
	return c
}

// run sends the test and prints one line per integration; it returns the
// exit code.
func (c *testNotificationCommand) run(configFile, externalURL string, logger *slog.Logger, stdout, stderr io.Writer) int {
	cfg, err := config.LoadRouter(configFile)
	if err != nil {
		fmt.Fprintf(stderr, "vigie_router: %s: %v\n", webserver.DescribeFile(configFile), err)
		return 1
	}
	results, err := alertrouter.SendTestNotification(context.Background(), cfg, *c.receiver, externalURL, logger)
	if err != nil {
		fmt.Fprintf(stderr, "vigie_router: %s: %v\n", webserver.DescribeFile(configFile), err)
		return 1
	}
	code := 0
	for _, r := range results {
		took := r.Duration.Round(time.Millisecond)
		if r.Error == "" {
			fmt.Fprintf(stdout, "%s: sent (%s)\n", r.Integration, took)
			continue
		}
		code = 1
		kind := "permanent error: the router would not retry"
		if r.Retry {
			kind = "temporary error: the router would retry"
		}
		fmt.Fprintf(stdout, "%s: FAILED after %s (%s): %s\n", r.Integration, took, kind, r.Error)
	}
	return code
}
