package cacher

import (
	"context"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/bus"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// accountWriter is the part of accountcache.Writer the account sink uses.
type accountWriter interface {
	Write(ctx context.Context, ups []accountcache.Update) ([]accountcache.Result, error)
}

// accountSink writes decoded account updates. Within a batch only the newest
// update of each account goes to Redis; the others count as stale.
type accountSink struct {
	w accountWriter
	m *metrics
}

func (s *accountSink) Decode(msg jetstream.Msg) (accountcache.Update, error) {
	u, err := accountcache.UpdateFromDecoded(msg.Data())
	if err != nil {
		return u, fmt.Errorf("decode account update on %s: %w", msg.Subject(), err)
	}
	return u, nil
}

func (s *accountSink) Write(ctx context.Context, ups []accountcache.Update) error {
	newest := make(map[string]int, len(ups))
	keep := make([]accountcache.Update, 0, len(ups))
	for _, u := range ups {
		i, seen := newest[u.Pubkey]
		switch {
		case !seen:
			newest[u.Pubkey] = len(keep)
			keep = append(keep, u)
		case u.Newer(&keep[i]):
			keep[i] = u
		}
	}
	res, err := s.w.Write(ctx, keep)
	if err != nil {
		return err
	}
	var applied, stale, dup int
	for _, r := range res {
		switch r {
		case accountcache.Applied:
			applied++
		case accountcache.Duplicate:
			dup++
		default:
			stale++
		}
	}
	stale += len(ups) - len(keep)
	s.m.messages.WithLabelValues("accounts", "applied").Add(float64(applied))
	s.m.messages.WithLabelValues("accounts", "stale").Add(float64(stale))
	s.m.messages.WithLabelValues("accounts", "duplicate").Add(float64(dup))
	return nil
}

// slotWriter is the part of accountcache.Writer the slot sink uses.
type slotWriter interface {
	WriteSlot(ctx context.Context, commitment string, slot uint64) (bool, error)
}

// slotItem is a slot update at a commitment level, or none for statuses
// that are not a commitment (first shred received, completed, dead, ...).
type slotItem struct {
	commitment string
	slot       uint64
}

// slotSink keeps <prefix>slot:<commitment> at the greatest slot seen.
type slotSink struct {
	w slotWriter
	m *metrics
}

func (s *slotSink) Decode(msg jetstream.Msg) (slotItem, error) {
	var u fireholev1.SlotUpdate
	if err := proto.Unmarshal(msg.Data(), &u); err != nil {
		return slotItem{}, fmt.Errorf("decode slot update on %s: %w", msg.Subject(), err)
	}
	c := bus.SlotStatusToken(u.GetStatus())
	if !slices.Contains(accountcache.Commitments, c) {
		return slotItem{}, nil
	}
	return slotItem{commitment: c, slot: u.GetSlot()}, nil
}

func (s *slotSink) Write(ctx context.Context, items []slotItem) error {
	top := map[string]uint64{}
	ignored := 0
	for _, it := range items {
		if it.commitment == "" {
			ignored++
			continue
		}
		top[it.commitment] = max(top[it.commitment], it.slot)
	}
	for c, slot := range top {
		if _, err := s.w.WriteSlot(ctx, c, slot); err != nil {
			return err
		}
	}
	s.m.messages.WithLabelValues("slots", "applied").Add(float64(len(items) - ignored))
	s.m.messages.WithLabelValues("slots", "ignored").Add(float64(ignored))
	return nil
}
