package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
)

// /api/v2/silences and /api/v2/silence/{id}.
func (a *API) getSilences(w http.ResponseWriter, r *http.Request) {
	ms, err := parseFilter(r.URL.Query()["filter"])
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := a.o.Now()
	out := []GettableSilence{}
	for _, s := range a.o.Silences.List() {
		if silenceMatchesFilter(&s, ms) {
			out = append(out, FromSilence(s, now))
		}
	}
	writeJSONArray(w, out)
}

// silenceMatchesFilter is Alertmanager's rule: the filter matchers must
// accept the labels the silence's equality matchers name.
func silenceMatchesFilter(s *silence.Silence, filter config.Matchers) bool {
	if len(filter) == 0 {
		return true
	}
	labels := map[string]string{}
	for _, m := range s.Matchers {
		if m.IsEqual && !m.IsRegex {
			labels[m.Name] = m.Value
		}
	}
	return filter.Matches(labels)
}

func (a *API) postSilence(w http.ResponseWriter, r *http.Request) {
	var p PostableSilence
	body, err := a.body(w, r)
	if err != nil {
		writeError(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	if err := json.NewDecoder(body).Decode(&p); err != nil {
		writeError(w, a.decodeStatus(err), a.decodeError(err).Error())
		return
	}
	sil := p.ToSilence()
	id, err := a.o.Silences.Set(sil)
	var ve *silence.ValidationError
	var le *silence.LimitError
	switch {
	case errors.As(err, &le):
		a.refused(le.Limit, 1)
		writeError(w, http.StatusBadRequest, "Failed to create silence: "+err.Error())
		return
	case errors.As(err, &ve):
		writeError(w, http.StatusBadRequest, "Failed to create silence: "+err.Error())
		return
	case errors.Is(err, silence.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.o.Logger.Info("Silence set", "id", id, "matchers", sil.MatchersString(), "created_by", p.CreatedBy, "ends_at", p.EndsAt)
	writeJSON(w, http.StatusOK, PostSilenceResponse{SilenceID: id})
}

func (a *API) getSilence(w http.ResponseWriter, r *http.Request) {
	s, err := a.o.Silences.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, FromSilence(s, a.o.Now()))
}

func (a *API) deleteSilence(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := a.o.Silences.Expire(id)
	switch {
	case errors.Is(err, silence.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.o.Logger.Info("Silence expired", "id", id)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
}
