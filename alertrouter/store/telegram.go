package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketTelegram holds what Telegram actions need across restarts: each
// bot's getUpdates offset ("o/<bot>") and the messages that carry buttons
// ("m/<bot>/<chat>/<message id>"). It is created on the first write, so
// that older stores open unchanged.
var bucketTelegram = []byte("telegram")

// MaxTelegramMessages bounds the messages with buttons remembered; beyond
// it the oldest are forgotten (their buttons then stay after their
// incident ends, and still answer that it is over). Messages older than
// TelegramMessageRetention are forgotten too.
const (
	MaxTelegramMessages      = 10000
	TelegramMessageRetention = 30 * 24 * time.Hour
)

// TelegramMessageRecord is a message with buttons.
type TelegramMessageRecord struct {
	Bot       string          `json:"bot"`
	Chat      int64           `json:"chat"`
	MessageID int64           `json:"message_id"`
	Incidents []string        `json:"incidents"`
	Text      string          `json:"text"`
	ParseMode string          `json:"parse_mode,omitempty"`
	Keyboard  json.RawMessage `json:"keyboard,omitempty"`
	SentAt    time.Time       `json:"sent_at"`
	// Notes are the lines actions added to the message ("acknowledged
	// by …"), in order.
	Notes []string `json:"notes,omitempty"`
	// SilenceID is the silence a button created from the message: its
	// buttons go when it expires.
	SilenceID string `json:"silence_id,omitempty"`
}

// Telegram is the store part of Telegram actions.
type Telegram interface {
	TelegramOffset(bot string) (int64, error)
	SaveTelegramOffset(bot string, offset int64) error
	SaveTelegramMessage(rec *TelegramMessageRecord) error
	TelegramMessage(bot string, chat, messageID int64) (*TelegramMessageRecord, error)
	TelegramMessages(bot string) ([]*TelegramMessageRecord, error)
	DeleteTelegramMessages(recs ...*TelegramMessageRecord) error
}

var _ Telegram = (*Store)(nil)

func telegramMessageKey(bot string, chat, messageID int64) []byte {
	return []byte("m/" + bot + "/" + strconv.FormatInt(chat, 10) + "/" + strconv.FormatInt(messageID, 10))
}

// TelegramOffset returns the offset of the bot's next getUpdates (0: none
// saved).
func (s *Store) TelegramOffset(bot string) (int64, error) {
	var off int64
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTelegram)
		if b == nil {
			return nil
		}
		v := b.Get([]byte("o/" + bot))
		if v == nil {
			return nil
		}
		var err error
		off, err = strconv.ParseInt(string(v), 10, 64)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: telegram offset: %w", err)
	}
	return off, nil
}

// SaveTelegramOffset saves the offset of the bot's next getUpdates: the
// updates before it are never handled again.
func (s *Store) SaveTelegramOffset(bot string, offset int64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTelegram)
		if err != nil {
			return err
		}
		return b.Put([]byte("o/"+bot), []byte(strconv.FormatInt(offset, 10)))
	})
	if err != nil {
		return fmt.Errorf("store: save telegram offset: %w", err)
	}
	return nil
}

// SaveTelegramMessage writes (creates or replaces) a message with buttons,
// forgetting the oldest beyond the bounds now and then.
func (s *Store) SaveTelegramMessage(rec *TelegramMessageRecord) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTelegram)
		if err != nil {
			return err
		}
		if err := putJSON(b, telegramMessageKey(rec.Bot, rec.Chat, rec.MessageID), rec); err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if seq%256 == 0 {
			return s.pruneTelegram(b, rec.SentAt)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save telegram message: %w", err)
	}
	return nil
}

// pruneTelegram forgets messages past the retention, then the oldest
// beyond MaxTelegramMessages.
func (s *Store) pruneTelegram(b *bolt.Bucket, now time.Time) error {
	type kept struct {
		key []byte
		at  time.Time
	}
	var all []kept
	var drop [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if !strings.HasPrefix(string(k), "m/") {
			return nil
		}
		var rec TelegramMessageRecord
		if json.Unmarshal(v, &rec) != nil || now.Sub(rec.SentAt) > TelegramMessageRetention {
			drop = append(drop, slices.Clone(k))
			return nil
		}
		all = append(all, kept{slices.Clone(k), rec.SentAt})
		return nil
	})
	if err != nil {
		return err
	}
	if len(all) > MaxTelegramMessages {
		slices.SortFunc(all, func(a, b kept) int { return a.at.Compare(b.at) })
		for _, k := range all[:len(all)-MaxTelegramMessages] {
			drop = append(drop, k.key)
		}
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// TelegramMessage returns a message with buttons, nil if unknown.
func (s *Store) TelegramMessage(bot string, chat, messageID int64) (*TelegramMessageRecord, error) {
	var rec *TelegramMessageRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTelegram)
		if b == nil {
			return nil
		}
		k := telegramMessageKey(bot, chat, messageID)
		if v := b.Get(k); v != nil {
			r := &TelegramMessageRecord{}
			if s.decode(bucketTelegram, k, v, r) {
				rec = r
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: telegram message: %w", err)
	}
	return rec, nil
}

// TelegramMessages returns the bot's messages with buttons.
func (s *Store) TelegramMessages(bot string) ([]*TelegramMessageRecord, error) {
	var out []*TelegramMessageRecord
	prefix := []byte("m/" + bot + "/")
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTelegram)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
			r := &TelegramMessageRecord{}
			if s.decode(bucketTelegram, k, v, r) {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: telegram messages: %w", err)
	}
	return out, nil
}

// DeleteTelegramMessages forgets messages.
func (s *Store) DeleteTelegramMessages(recs ...*TelegramMessageRecord) error {
	if len(recs) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTelegram)
		if b == nil {
			return nil
		}
		for _, r := range recs {
			if err := b.Delete(telegramMessageKey(r.Bot, r.Chat, r.MessageID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete telegram messages: %w", err)
	}
	return nil
}
