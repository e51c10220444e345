package alertrouter

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/alertrouter/cluster"
)

// Members of a router cluster ask each other over HTTP, through their
// advertise_url (the cluster's list of checks, history.Gather). Every
// such request goes through one peerClient, built from cluster.http_config:
// the credentials the other members' --web.config.file requires, the CA
// that verifies an https advertise_url, a proxy. Its *http.Client lives as
// long as the router; a reload swaps the transport under it, so a changed
// http_config applies to the next request without a restart.
//
// A member that answers 401 or 403 wants credentials this member does not
// send: that is logged once per member (again only after it has answered
// something else in between), and vigie_router_cluster_peers_refusing
// counts the live members doing it.

// peerIdleTimeout closes idle connections to other members: they are
// asked on a user's request, not all the time.
const peerIdleTimeout = 30 * time.Second

// peerTransport is one http_config's transport.
type peerTransport struct {
	rt     http.RoundTripper
	follow bool // follow_redirects
}

type peerClient struct {
	client  *http.Client
	cur     atomic.Pointer[peerTransport]
	logger  *slog.Logger
	members func() []cluster.Member

	mu sync.Mutex
	// refusing is the members whose last answer was 401 or 403, with
	// that status.
	refusing map[string]int
}

// newPeerClient builds the client members ask each other with; members
// names the member a request goes to (by its advertise_url).
func newPeerClient(cfg pconfig.HTTPClientConfig, logger *slog.Logger, reg prometheus.Registerer, members func() []cluster.Member) (*peerClient, error) {
	t, err := newPeerTransport(cfg)
	if err != nil {
		return nil, err
	}
	p := &peerClient{logger: logger, members: members, refusing: map[string]int{}}
	p.cur.Store(t)
	p.client = &http.Client{Transport: p, CheckRedirect: p.checkRedirect}
	if reg != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigie_router_cluster_peers_refusing",
			Help: "Live cluster members whose last answer to this member was 401 or 403: they require credentials this member does not send (set cluster.http_config).",
		}, p.refusingCount))
	}
	return p, nil
}

func newPeerTransport(cfg pconfig.HTTPClientConfig) (*peerTransport, error) {
	rt, err := pconfig.NewRoundTripperFromConfig(cfg, "vigie_router_cluster",
		pconfig.WithUserAgent("vigie_router"), pconfig.WithIdleConnTimeout(peerIdleTimeout))
	if err != nil {
		return nil, err
	}
	return &peerTransport{rt: rt, follow: cfg.FollowRedirects}, nil
}

// set swaps in a new http_config's transport (a reload); requests in
// flight finish on the old one, whose idle connections are closed.
func (p *peerClient) set(t *peerTransport) {
	old := p.cur.Swap(t)
	if c, ok := old.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// RoundTrip sends a request to another member with the current
// http_config and notes whether it refused it.
func (p *peerClient) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.cur.Load().rt.RoundTrip(req)
	if err == nil {
		p.observe(req.URL, resp.StatusCode)
	}
	return resp, err
}

// checkRedirect is net/http's default policy, unless follow_redirects is
// false. The credentials are the transport's: a redirect to another
// member carries them as the first request did.
func (p *peerClient) checkRedirect(_ *http.Request, via []*http.Request) error {
	if !p.cur.Load().follow {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// observe logs the first 401 or 403 of a member, and forgets it when the
// member answers anything else.
func (p *peerClient) observe(u *url.URL, status int) {
	refused := status == http.StatusUnauthorized || status == http.StatusForbidden
	name := p.memberOf(u)
	p.mu.Lock()
	prev, was := p.refusing[name]
	switch {
	case refused:
		p.refusing[name] = status
	case was:
		delete(p.refusing, name)
	}
	p.mu.Unlock()
	switch {
	case refused && prev != status:
		p.logger.Warn("A cluster member refuses this member's requests: it requires credentials (--web.config.file); set cluster.http_config to the ones it accepts",
			"member", name, "status", status, "url", u.Scheme+"://"+u.Host)
	case !refused && was:
		p.logger.Info("A cluster member accepts this member's requests again", "member", name, "status", status)
	}
}

// memberOf names the member at u (its host when no live member
// advertises it).
func (p *peerClient) memberOf(u *url.URL) string {
	for _, m := range p.members() {
		if a, err := url.Parse(m.Address); err == nil && a.Host == u.Host && a.Scheme == u.Scheme {
			return m.Name
		}
	}
	return u.Host
}

// refusingCount is how many live members refused their last request.
func (p *peerClient) refusingCount() float64 {
	live := map[string]bool{}
	for _, m := range p.members() {
		live[m.Name] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for name := range p.refusing {
		if live[name] {
			n++
		} else {
			delete(p.refusing, name) // it left: forgotten
		}
	}
	return float64(n)
}
