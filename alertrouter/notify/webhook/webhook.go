// Package webhook delivers notifications as Alertmanager v4 webhook payloads,
// so that existing webhook consumers work with vigie unchanged.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	pconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// Message is the Alertmanager v4 webhook payload.
type Message struct {
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []Alert           `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
}

// Alert is one alert of a Message, as Alertmanager renders it.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// maxErrorBody is how much of a refusing server's answer goes into the error.
const maxErrorBody = 1024

// Notifier posts to one webhook_configs entry.
type Notifier struct {
	cfg    config.WebhookConfig
	client *http.Client
	logger *slog.Logger
}

// New validates cfg and builds its HTTP client.
func New(cfg config.WebhookConfig, logger *slog.Logger) (*Notifier, error) {
	if cfg.URL == "" && cfg.URLFile == "" {
		return nil, errors.New("one of url or url_file must be configured")
	}
	httpCfg := pconfig.DefaultHTTPClientConfig
	if cfg.HTTPConfig != nil {
		httpCfg = *cfg.HTTPConfig
	}
	client, err := pconfig.NewClientFromConfig(httpCfg, "webhook")
	if err != nil {
		return nil, fmt.Errorf("http_config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg, client: client, logger: logger}, nil
}

// Notify implements notify.Notifier: 2xx is success; 429 and 5xx and
// network errors are worth retrying (429 with its Retry-After); any other
// status is permanent.
func (n *Notifier) Notify(ctx context.Context, msg *notify.Notification) (bool, error) {
	target, err := n.url()
	if err != nil {
		return false, err
	}
	body, err := json.Marshal(NewMessage(msg, n.cfg.MaxAlerts))
	if err != nil {
		return false, fmt.Errorf("encode payload: %w", err)
	}
	if n.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.Timeout.Std())
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("build request: %w", redact(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigie_router/"+version.Version)
	resp, err := n.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("post: %w", redact(err))
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // keep the connection reusable
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	statusErr := fmt.Errorf("unexpected status code %d: %s", resp.StatusCode, describeBody(excerpt))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		if after, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return true, &notify.RetryAfterError{After: after, Err: statusErr}
		}
		return true, statusErr
	case resp.StatusCode/100 == 5:
		return true, statusErr
	default:
		return false, statusErr
	}
}

// url returns the configured URL, reading url_file at each delivery so that
// a rotated secret is picked up without a reload.
func (n *Notifier) url() (string, error) {
	if n.cfg.URL != "" {
		return string(n.cfg.URL), nil
	}
	data, err := os.ReadFile(n.cfg.URLFile)
	if err != nil {
		return "", fmt.Errorf("read url_file: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// NewMessage renders a notification as an Alertmanager v4 payload, keeping
// at most maxAlerts alerts (0: all).
func NewMessage(n *notify.Notification, maxAlerts int) *Message {
	m := &Message{
		Receiver:          n.Receiver,
		Status:            n.Status,
		Alerts:            make([]Alert, 0, len(n.Alerts)),
		GroupLabels:       nonNil(n.GroupLabels),
		CommonLabels:      nonNil(n.CommonLabels),
		CommonAnnotations: nonNil(n.CommonAnnotations),
		ExternalURL:       n.ExternalURL,
		Version:           "4",
		GroupKey:          GroupKey(n.GroupLabels),
	}
	alerts := n.Alerts
	if maxAlerts > 0 && len(alerts) > maxAlerts {
		m.TruncatedAlerts = uint64(len(alerts) - maxAlerts)
		alerts = alerts[:maxAlerts]
	}
	for _, a := range alerts {
		m.Alerts = append(m.Alerts, Alert{
			Status:       a.Status,
			Labels:       nonNil(a.Labels),
			Annotations:  nonNil(a.Annotations),
			StartsAt:     a.StartsAt,
			EndsAt:       a.EndsAt,
			GeneratorURL: a.GeneratorURL,
			Fingerprint:  a.Fingerprint,
		})
	}
	return m
}

// GroupKey renders group labels the way Alertmanager's group keys end
// (`{}:{group="web"}`), so consumers that thread messages by groupKey work.
func GroupKey(groupLabels map[string]string) string {
	ls := make(model.LabelSet, len(groupLabels))
	for k, v := range groupLabels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return "{}:" + ls.String()
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}

// redact drops the URL from a client error: webhook URLs carry secrets.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

func describeBody(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if s == "" {
		return "(empty body)"
	}
	if len(b) == maxErrorBody {
		s += "…"
	}
	return strconv.Quote(s)
}
