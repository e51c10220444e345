package silence

import (
	"fmt"
	"sort"
	"time"
)

// The limits, by flag name: the label of vigie_router_limit_refused_total
// and what refusals name.
const (
	LimitSilences    = "silences.max-silences"
	LimitSilenceSize = "silences.max-silence-size-bytes"
	LimitComment     = "silences.max-comment-bytes"
)

// Limits bound what clients can make the router keep. Zero (or less)
// means no limit.
type Limits struct {
	// MaxSilences bounds the silences kept, expired ones included (as
	// Alertmanager's --silences.max-silences). At the limit, the oldest
	// expired silences are forgotten early to make room; only when every
	// silence is active or pending is a new one refused.
	MaxSilences int
	// MaxSilenceSizeBytes bounds a silence's text: its matchers' names and
	// values, author and comment.
	MaxSilenceSizeBytes int
	// MaxCommentBytes bounds its comment.
	MaxCommentBytes int
}

// LimitError is a silence refused by a limit (HTTP 400, as Alertmanager).
type LimitError struct {
	// Limit is one of LimitSilences, LimitSilenceSize, LimitComment.
	Limit string
	Msg   string
}

func (e *LimitError) Error() string { return e.Msg }

// Size is what Limits.MaxSilenceSizeBytes measures.
func (s *Silence) Size() int {
	n := len(s.CreatedBy) + len(s.Comment)
	for _, m := range s.Matchers {
		n += len(m.Name) + len(m.Value)
	}
	return n
}

// checkSize applies the size limits.
func (l Limits) checkSize(s *Silence) error {
	if l.MaxCommentBytes > 0 && len(s.Comment) > l.MaxCommentBytes {
		return &LimitError{Limit: LimitComment, Msg: fmt.Sprintf("comment is %d bytes, over --%s=%d", len(s.Comment), LimitComment, l.MaxCommentBytes)}
	}
	if n := s.Size(); l.MaxSilenceSizeBytes > 0 && n > l.MaxSilenceSizeBytes {
		return &LimitError{Limit: LimitSilenceSize, Msg: fmt.Sprintf("silence is %d bytes (matchers, author and comment), over --%s=%d", n, LimitSilenceSize, l.MaxSilenceSizeBytes)}
	}
	return nil
}

// makeRoomLocked makes room for one more silence under
// Limits.MaxSilences by forgetting, early, the expired silences that ended
// first; when that is not enough, it refuses and forgets nothing.
func (s *Silences) makeRoomLocked(now time.Time) error {
	limit := s.limits.MaxSilences
	if limit <= 0 || len(s.byID) < limit {
		return nil
	}
	var expired []*entry
	for _, e := range s.byID {
		if e.State(now) == Expired {
			expired = append(expired, e)
		}
	}
	excess := len(s.byID) - limit + 1
	if len(expired) < excess {
		return &LimitError{Limit: LimitSilences, Msg: fmt.Sprintf("exceeded maximum number of silences: %d active or pending (limit: --%s=%d); expire some first",
			len(s.byID)-len(expired), LimitSilences, limit)}
	}
	sort.Slice(expired, func(i, j int) bool {
		if !expired[i].EndsAt.Equal(expired[j].EndsAt) {
			return expired[i].EndsAt.Before(expired[j].EndsAt)
		}
		return expired[i].ID < expired[j].ID
	})
	ids := make([]string, excess)
	for i := range ids {
		ids[i] = expired[i].ID
	}
	if err := s.store.DeleteSilences(ids); err != nil {
		return err
	}
	for _, id := range ids {
		delete(s.byID, id)
	}
	s.logger.Info("Forgot expired silences early to stay within the limit", "count", len(ids), "limit", limit)
	s.changed()
	return nil
}
