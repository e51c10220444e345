package web

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/common/model"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// The silence forms: plain HTML forms, protected against cross-site
// requests, that create and expire silences.
type silenceForm struct {
	Matchers, Duration, Author, Comment string
}

// checkToken verifies the form's token: with the same-origin check of
// CrossOriginProtection, it keeps other sites from posting forms here.
func (p *Page) checkToken(r *http.Request) bool {
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(p.token)) == 1
}

// postedForm reads a form posted from the page (64 KiB at most) and checks
// its token; false: the error is answered.
func (p *Page) postedForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return false
	}
	if !p.checkToken(r) {
		http.Error(w, "Forbidden: the form is stale or comes from another site; reload the page.", http.StatusForbidden)
		return false
	}
	return true
}

func (p *Page) createSilence(w http.ResponseWriter, r *http.Request) {
	if !p.postedForm(w, r) {
		return
	}
	form := silenceForm{
		Matchers: strings.TrimSpace(r.PostFormValue("matchers")),
		Duration: strings.TrimSpace(r.PostFormValue("duration")),
		Author:   strings.TrimSpace(r.PostFormValue("author")),
		Comment:  strings.TrimSpace(r.PostFormValue("comment")),
	}
	id, err := p.setSilence(form)
	var le *silence.LimitError
	if errors.As(err, &le) && p.o.Refused != nil {
		p.o.Refused.WithLabelValues(le.Limit).Inc()
	}
	if err != nil {
		d := p.data(1)
		d.Form, d.Error = form, "Silence not created: "+err.Error()
		p.render(w, http.StatusBadRequest, d)
		return
	}
	p.o.Logger.Info("Silence created on the status page", "id", id, "matchers", form.Matchers, "created_by", form.Author)
	seeOther(w, "./?created="+id+"#silences-title")
}

func (p *Page) setSilence(f silenceForm) (string, error) {
	if f.Author == "" || f.Comment == "" {
		return "", errors.New("author and comment are required")
	}
	if f.Matchers == "" {
		return "", errors.New("at least one matcher is required")
	}
	ms, err := silence.ParseMatchers(f.Matchers)
	if err != nil {
		return "", err
	}
	d, err := model.ParseDuration(f.Duration)
	if err != nil || d <= 0 {
		return "", fmt.Errorf("bad duration %q: use 30m, 2h, 1d…", f.Duration)
	}
	return p.o.Silences.Set(silence.Silence{
		Matchers: ms, EndsAt: p.o.Now().Add(time.Duration(d)), // starts now
		CreatedBy: f.Author, Comment: f.Comment,
	})
}

func (p *Page) expireSilence(w http.ResponseWriter, r *http.Request) {
	if !p.postedForm(w, r) {
		return
	}
	id := r.PathValue("id")
	if err := p.o.Silences.Expire(id); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, silence.ErrNotFound) {
			code = http.StatusNotFound
		}
		http.Error(w, "Silence not expired: "+err.Error(), code)
		return
	}
	p.o.Logger.Info("Silence expired on the status page", "id", id)
	seeOther(w, "../../?expired="+id+"#silences-title")
}

// seeOther redirects to a relative location, kept relative (unlike
// http.Redirect) so that the page works behind a reverse proxy's prefix.
func seeOther(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
}

// isSilenceID tells silence ids (UUIDs) from the names of maintenance
// windows among what mutes a check.
func isSilenceID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// checkMatchers are the matchers that silence exactly one check.
func checkMatchers(c view.CheckView) string {
	instance := c.Target
	if v := c.Labels["instance"]; v != "" {
		instance = v
	}
	return fmt.Sprintf("instance=%s, module=%s", strconv.Quote(instance), strconv.Quote(c.Module))
}
