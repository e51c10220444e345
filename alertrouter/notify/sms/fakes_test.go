package sms

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fakes of the SMS providers, each written to the provider's documented
// contract: they check authentication and required fields, answer errors in
// the provider's format, record what they accepted, and can be told to
// answer the next requests with a given status.

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

type programmed struct {
	status int
	body   string
	header map[string]string
}

type fakeBase struct {
	srv  *httptest.Server
	mu   sync.Mutex
	next []programmed
}

func (f *fakeBase) URL() string { return f.srv.URL }

func (f *fakeBase) failNext(status int, body string, header map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next = append(f.next, programmed{status, body, header})
}

// programmedAnswer writes a programmed answer, if any is queued.
func (f *fakeBase) programmedAnswer(w http.ResponseWriter) bool {
	f.mu.Lock()
	if len(f.next) == 0 {
		f.mu.Unlock()
		return false
	}
	p := f.next[0]
	f.next = f.next[1:]
	f.mu.Unlock()
	for k, v := range p.header {
		w.Header().Set(k, v)
	}
	if strings.HasPrefix(p.body, "{") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(p.status)
	io.WriteString(w, p.body)
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// --- Twilio: POST /2010-04-01/Accounts/{AccountSid}/Messages.json ---

type twilioMessage struct {
	To, From, MessagingServiceSid, Body string
}

type fakeTwilio struct {
	fakeBase
	sid, token string
	messages   []twilioMessage
}

func startTwilio(t *testing.T, sid, token string) *fakeTwilio {
	f := &fakeTwilio{sid: sid, token: token}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func writeTwilioError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{
		"code": code, "message": message, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status,
	})
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != f.sid || pass != f.token {
		writeTwilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if f.programmedAnswer(w) {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+f.sid+"/Messages.json" {
		writeTwilioError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		writeTwilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeTwilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	m := twilioMessage{To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), MessagingServiceSid: r.PostForm.Get("MessagingServiceSid"), Body: r.PostForm.Get("Body")}
	switch {
	case !e164.MatchString(m.To):
		writeTwilioError(w, http.StatusBadRequest, 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", m.To))
	case m.From == "" && m.MessagingServiceSid == "":
		writeTwilioError(w, http.StatusBadRequest, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
	case m.Body == "":
		writeTwilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
	case len([]rune(m.Body)) > 1600:
		writeTwilioError(w, http.StatusBadRequest, 21617, "The concatenated message body exceeds the 1600 character limit.")
	default:
		f.mu.Lock()
		f.messages = append(f.messages, m)
		n := len(f.messages)
		f.mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{
			"sid": fmt.Sprintf("SM%032d", n), "status": "queued", "to": m.To, "from": m.From, "body": m.Body,
			"messaging_service_sid": m.MessagingServiceSid, "error_code": nil, "error_message": nil,
		})
	}
}

func (f *fakeTwilio) received() []twilioMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]twilioMessage(nil), f.messages...)
}

// --- Free Mobile: GET /sendmsg?user=&pass=&msg= ---

type fakeFreeMobile struct {
	fakeBase
	user, pass string
	messages   []string
	rawQueries []string
}

func startFreeMobile(t *testing.T, user, pass string) *fakeFreeMobile {
	f := &fakeFreeMobile{user: user, pass: pass}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// serve answers as the API does: a status code and an empty body.
func (f *fakeFreeMobile) serve(w http.ResponseWriter, r *http.Request) {
	if f.programmedAnswer(w) {
		return
	}
	q := r.URL.Query()
	switch {
	case r.URL.Path != "/sendmsg" || (r.Method != http.MethodGet && r.Method != http.MethodPost):
		w.WriteHeader(http.StatusNotFound)
	case q.Get("user") == "" || q.Get("pass") == "" || q.Get("msg") == "":
		w.WriteHeader(http.StatusBadRequest)
	case q.Get("user") != f.user || q.Get("pass") != f.pass:
		w.WriteHeader(http.StatusForbidden)
	default:
		f.mu.Lock()
		f.messages = append(f.messages, q.Get("msg"))
		f.rawQueries = append(f.rawQueries, r.URL.RawQuery)
		f.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}
}

func (f *fakeFreeMobile) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.messages...)
}

// --- OVHcloud API v1: GET /auth/time, POST /sms/{serviceName}/jobs ---

type ovhReceived struct {
	Message           string   `json:"message"`
	Receivers         []string `json:"receivers"`
	Sender            string   `json:"sender"`
	SenderForResponse bool     `json:"senderForResponse"`
	NoStopClause      bool     `json:"noStopClause"`
	Priority          string   `json:"priority"`
	Charset           string   `json:"charset"`
	Coding            string   `json:"coding"`
}

type fakeOVH struct {
	fakeBase
	ak, as, ck, service string
	clockSkew           time.Duration // the API's clock minus ours
	jobs                []ovhReceived
}

func startOVH(t *testing.T, ak, as, ck, service string) *fakeOVH {
	f := &fakeOVH{ak: ak, as: as, ck: ck, service: service, clockSkew: time.Hour}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func writeOVHError(w http.ResponseWriter, status int, errorCode, message string) {
	writeJSON(w, status, map[string]any{"errorCode": errorCode, "httpCode": fmt.Sprintf("%d %s", status, http.StatusText(status)), "message": message})
}

func (f *fakeOVH) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now().Add(f.clockSkew)
	if r.Method == http.MethodGet && r.URL.Path == "/auth/time" {
		fmt.Fprint(w, now.Unix())
		return
	}
	if f.programmedAnswer(w) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("X-Ovh-Application") != f.ak {
		writeOVHError(w, http.StatusForbidden, "INVALID_KEY", "Invalid application key")
		return
	}
	if r.Header.Get("X-Ovh-Consumer") != f.ck {
		writeOVHError(w, http.StatusForbidden, "INVALID_CREDENTIAL", "This credential does not exist")
		return
	}
	ts := r.Header.Get("X-Ovh-Timestamp")
	sent, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sent, 0)).Abs() > 30*time.Second {
		writeOVHError(w, http.StatusBadRequest, "INVALID_SIGNATURE", "Invalid timestamp")
		return
	}
	fullURL := "http://" + r.Host + r.URL.RequestURI()
	sum := sha1.Sum([]byte(f.as + "+" + f.ck + "+" + r.Method + "+" + fullURL + "+" + string(body) + "+" + ts))
	if r.Header.Get("X-Ovh-Signature") != "$1$"+hex.EncodeToString(sum[:]) {
		writeOVHError(w, http.StatusBadRequest, "INVALID_SIGNATURE", "Invalid signature")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/sms/"+f.service+"/jobs" {
		writeOVHError(w, http.StatusNotFound, "", "The requested object (serviceName = "+strings.Split(strings.TrimPrefix(r.URL.Path, "/sms/"), "/")[0]+") does not exist")
		return
	}
	var job ovhReceived
	if err := json.Unmarshal(body, &job); err != nil {
		writeOVHError(w, http.StatusBadRequest, "", "Invalid JSON received")
		return
	}
	if job.Message == "" || len(job.Receivers) == 0 {
		writeOVHError(w, http.StatusBadRequest, "", "Missing parameter(s): message, receivers")
		return
	}
	var valid, invalid []string
	for _, rcv := range job.Receivers {
		if e164.MatchString(rcv) {
			valid = append(valid, rcv)
		} else {
			invalid = append(invalid, rcv)
		}
	}
	ids := []int64{}
	if len(valid) > 0 {
		f.mu.Lock()
		f.jobs = append(f.jobs, job)
		ids = append(ids, int64(len(f.jobs)))
		f.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, map[string]any{"totalCreditsRemoved": len(valid), "invalidReceivers": orEmpty(invalid), "ids": ids, "validReceivers": orEmpty(valid), "tag": ""})
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (f *fakeOVH) received() []ovhReceived {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ovhReceived(nil), f.jobs...)
}

// --- a generic HTTP API: records requests, answers 200 ---

type genericRequest struct {
	method, uri, body string
	header            http.Header
}

type fakeGeneric struct {
	fakeBase
	requests []genericRequest
}

func startGeneric(t *testing.T) *fakeGeneric {
	f := &fakeGeneric{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, genericRequest{r.Method, r.URL.RequestURI(), string(body), r.Header.Clone()})
		f.mu.Unlock()
		if f.programmedAnswer(w) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"queued": true})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGeneric) received() []genericRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]genericRequest(nil), f.requests...)
}
