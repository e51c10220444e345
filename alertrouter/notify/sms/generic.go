package sms

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"text/template"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// defaultHTTPBody is sent when body is not set (POST, PUT, PATCH).
const defaultHTTPBody = `{"to":{{ json .To }},"from":{{ json .From }},"message":{{ json .Message }}}`

// requestData is what the url and body templates of the http provider
// see: the notification data plus the rendered message.
type requestData struct {
	*notify.Data
	Message string
	To      string
	From    string
}

func (n *Notifier) parseHTTPTemplates() error {
	parse := func(key, text string) (*template.Template, error) {
		t, err := template.New(key).Funcs(notify.FuncMap()).Option("missingkey=zero").Parse(text)
		if err != nil {
			return nil, fmt.Errorf("%s: invalid template: %w", key, err)
		}
		return t, nil
	}
	var err error
	if n.urlTmpl, err = parse("url", string(n.cfg.URL)); err != nil {
		return err
	}
	if n.method() != http.MethodGet {
		body := n.cfg.Body
		if body == "" {
			body = defaultHTTPBody
		}
		if n.bodyTmpl, err = parse("body", body); err != nil {
			return err
		}
	}
	return nil
}

func execute(t *template.Template, data any) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("%s template: %w", t.Name(), err)
	}
	return b.String(), nil
}

func (n *Notifier) method() string {
	if n.cfg.Method == "" {
		return http.MethodPost
	}
	return n.cfg.Method
}

// sendHTTP calls a generic HTTP API: any 2xx is success.
func (n *Notifier) sendHTTP(ctx context.Context, d *notify.Data, text string) (bool, error) {
	data := requestData{Data: d, Message: text, To: n.cfg.To, From: n.cfg.From}
	target, err := execute(n.urlTmpl, data)
	if err != nil {
		return false, fmt.Errorf("sms http: %w", err)
	}
	target = strings.TrimSpace(target)
	var body io.Reader
	if n.bodyTmpl != nil {
		b, err := execute(n.bodyTmpl, data)
		if err != nil {
			return false, fmt.Errorf("sms http: %w", err)
		}
		body = strings.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, n.method(), target, body)
	if err != nil {
		return false, fmt.Errorf("sms http: invalid request: %w", notify.RedactError(err))
	}
	for name, value := range n.cfg.Headers {
		req.Header.Set(textproto.CanonicalMIMEHeaderKey(name), value)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return n.transportError(err, nil)
	}
	answer, err := notify.ReadBody(resp)
	if err != nil {
		return n.transportError(err, nil)
	}
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	return n.refused(resp.StatusCode, resp.Header, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, notify.BodyExcerpt(answer)))
}
