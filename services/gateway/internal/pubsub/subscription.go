package pubsub

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/gateway/internal/conn"
	"github.com/firehole/firehole/services/gateway/internal/filter"
	"github.com/firehole/firehole/services/gateway/internal/hub"
	"github.com/firehole/firehole/services/gateway/internal/jsonrpc"
	"github.com/firehole/firehole/services/gateway/internal/metrics"
	"github.com/firehole/firehole/services/gateway/internal/recent"
	"github.com/firehole/firehole/services/gateway/internal/uiaccount"
)

type kind uint8

const (
	kindAccount kind = iota
	kindProgram
	kindSlot
)

func (k kind) method() string {
	switch k {
	case kindAccount:
		return "accountSubscribe"
	case kindProgram:
		return "programSubscribe"
	}
	return "slotSubscribe"
}

func (k kind) notification() string {
	switch k {
	case kindAccount:
		return "accountNotification"
	case kindProgram:
		return "programNotification"
	}
	return "slotNotification"
}

func subAdded(m *metrics.Metrics, k kind) {
	if m != nil {
		m.Subscriptions.WithLabelValues(k.method()).Inc()
	}
}

func subRemoved(m *metrics.Metrics, k kind) {
	if m != nil {
		m.Subscriptions.WithLabelValues(k.method()).Dec()
	}
}

// spec is a subscription's params.
type spec struct {
	kind       kind
	key        [32]byte
	b58        string
	enc        uiaccount.Encoding
	slice      uiaccount.Slice
	commitment fireholev1.Commitment
	filters    filter.Set
}

func (sp *spec) dedupKey() string {
	b := make([]byte, 0, 64)
	b = append(b, byte(sp.kind), byte(sp.enc), byte(sp.commitment))
	if sp.slice.Set {
		b = strconv.AppendUint(append(b, 's'), sp.slice.Offset, 10)
		b = strconv.AppendUint(append(b, ':'), sp.slice.Length, 10)
	}
	b = append(b, sp.key[:]...)
	b = sp.filters.Key(b)
	return string(b)
}

func (sp *spec) subject() string {
	switch sp.kind {
	case kindAccount:
		return hub.AccountSubject(sp.b58)
	case kindProgram:
		return hub.ProgramSubject(sp.b58)
	}
	return hub.SlotSubject
}

// parseFilters sends what agave's verify_filters finds as its
// programSubscribe does: the error's Display, "Invalid params: " + message.
func parseFilters(raw json.RawMessage) (filter.Set, *jsonrpc.Error) {
	fs, err := filter.Parse(raw)
	if err != nil {
		var fe *filter.Error
		if errors.As(err, &fe) && fe.Verify {
			return nil, jsonrpc.InvalidParams("Invalid params: " + fe.Msg)
		}
		return nil, jsonrpc.InvalidParams(err.Error())
	}
	return fs, nil
}

// subscription is one distinct subscription shared by every session that
// asked for the same params. sessions is copy-on-write under Server.mu so
// that Deliver reads it without a lock.
type subscription struct {
	srv    *Server
	spec   *spec
	kind   kind
	id     uint64
	idJSON []byte
	key    string
	leave  func()

	refs     map[*Session]int
	sessions atomic.Pointer[[]*Session]

	// slot subscriptions only; touched by the one NATS delivery goroutine.
	lastSlot uint64
	root     uint64
}

func newSubscription(s *Server, sp *spec, id uint64, key string) *subscription {
	sub := &subscription{srv: s, spec: sp, kind: sp.kind, id: id, key: key,
		idJSON: strconv.AppendUint(nil, id, 10), refs: map[*Session]int{}}
	empty := []*Session{}
	sub.sessions.Store(&empty)
	return sub
}

// addSession and removeSession run under Server.mu.
func (sub *subscription) addSession(ss *Session) {
	sub.refs[ss]++
	if sub.refs[ss] == 1 {
		cur := *sub.sessions.Load()
		next := make([]*Session, len(cur), len(cur)+1)
		copy(next, cur)
		next = append(next, ss)
		sub.sessions.Store(&next)
	}
}

// removeSession reports whether the subscription has no session left.
func (sub *subscription) removeSession(ss *Session) bool {
	if n := sub.refs[ss]; n > 1 {
		sub.refs[ss] = n - 1
		return false
	}
	delete(sub.refs, ss)
	cur := *sub.sessions.Load()
	next := make([]*Session, 0, len(cur))
	for _, x := range cur {
		if x != ss {
			next = append(next, x)
		}
	}
	sub.sessions.Store(&next)
	return len(sub.refs) == 0
}

type decodedKey struct{}

type decoded struct {
	cache *uiaccount.Cache
	err   error
}

// account decodes the message's DecodedAccount once per NATS message and
// has the replica remember it (recent), before any notification of it is
// queued, so that reads after the notification see it.
func account(m *hub.Message, rec *recent.Accounts) (*uiaccount.Cache, error) {
	if v, ok := m.Load(decodedKey{}); ok {
		d := v.(*decoded)
		return d.cache, d.err
	}
	var a fireholev1.DecodedAccount
	err := proto.Unmarshal(m.Msg.Data, &a)
	d := &decoded{err: err}
	if err == nil {
		d.cache = uiaccount.NewCache(&a)
		rec.Note(m.Msg.Data, &a)
	}
	m.Store(decodedKey{}, d)
	return d.cache, err
}

// Deliver implements hub.Listener.
func (sub *subscription) Deliver(m *hub.Message) {
	var frame conn.Frame
	var ok bool
	var src time.Time
	switch sub.kind {
	case kindSlot:
		frame, ok = sub.slotFrame(m)
	default:
		c, err := account(m, sub.srv.cfg.Recent)
		if err != nil {
			sub.srv.log.Warn().Err(err).Str("subject", m.Msg.Subject).Msg("decode account")
			return
		}
		a := c.Account()
		acc := a.GetAccount()
		have := acc.GetCommitment()
		if have == fireholev1.Commitment_COMMITMENT_UNSPECIFIED {
			have = sub.srv.cfg.Commitment
		}
		if have < sub.spec.commitment {
			return
		}
		if sub.kind == kindProgram && !sub.spec.filters.Match(acc.GetData()) {
			return
		}
		frame, ok = sub.accountFrame(c), true
		if t := acc.GetCreatedAt(); t != nil {
			src = t.AsTime()
		} else if t := acc.GetIngestedAt(); t != nil {
			src = t.AsTime()
		}
	}
	if !ok {
		return
	}
	ss := *sub.sessions.Load()
	sent, dropped := 0, 0
	for _, s := range ss {
		if s.out.SendFrame(frame) {
			sent++
		} else {
			dropped++
		}
	}
	if mt := sub.srv.m; mt != nil {
		meth := sub.kind.notification()
		if sent > 0 {
			mt.Notifications.WithLabelValues(meth).Add(float64(sent))
		}
		if dropped > 0 {
			mt.Dropped.WithLabelValues(meth).Add(float64(dropped))
		}
		mt.ObserveLatency(src)
	}
}

func (sub *subscription) accountFrame(c *uiaccount.Cache) conn.Frame {
	a := c.Account()
	acc := a.GetAccount()
	val := c.Value(sub.spec.enc, sub.spec.slice)
	b := conn.FrameBuffer(len(val) + 160)
	b = append(b, `{"jsonrpc":"2.0","method":"`...)
	b = append(b, sub.kind.notification()...)
	b = append(b, `","params":{"result":{"context":{"slot":`...)
	b = strconv.AppendUint(b, acc.GetSlot(), 10)
	b = append(b, `},"value":`...)
	if sub.kind == kindProgram {
		b = append(b, `{"pubkey":"`...)
		b = uiaccount.AppendKey(b, acc.GetPubkey())
		b = append(b, `","account":`...)
		b = append(b, val...)
		b = append(b, '}')
	} else {
		b = append(b, val...)
	}
	b = append(b, `},"subscription":`...)
	b = append(b, sub.idJSON...)
	return conn.Prepare(append(b, `}}`...))
}

// slotFrame turns slot status updates into agave's slotNotification: one per
// new slot (processed, or the first status seen for it), root = the latest
// finalized slot.
func (sub *subscription) slotFrame(m *hub.Message) (conn.Frame, bool) {
	var u fireholev1.SlotUpdate
	if err := proto.Unmarshal(m.Msg.Data, &u); err != nil {
		sub.srv.log.Warn().Err(err).Str("subject", m.Msg.Subject).Msg("decode slot")
		return conn.Frame{}, false
	}
	switch u.GetStatus() {
	case fireholev1.SlotStatus_SLOT_STATUS_FINALIZED:
		if u.GetSlot() > sub.root {
			sub.root = u.GetSlot()
		}
		return conn.Frame{}, false
	case fireholev1.SlotStatus_SLOT_STATUS_PROCESSED, fireholev1.SlotStatus_SLOT_STATUS_CONFIRMED:
	default:
		return conn.Frame{}, false
	}
	if u.GetSlot() <= sub.lastSlot {
		return conn.Frame{}, false
	}
	sub.lastSlot = u.GetSlot()
	parent := u.GetSlot() - 1
	if u.Parent != nil {
		parent = u.GetParent()
	}
	b := conn.FrameBuffer(128)
	b = append(b, `{"jsonrpc":"2.0","method":"slotNotification","params":{"result":{"parent":`...)
	b = strconv.AppendUint(b, parent, 10)
	b = append(b, `,"root":`...)
	b = strconv.AppendUint(b, sub.root, 10)
	b = append(b, `,"slot":`...)
	b = strconv.AppendUint(b, u.GetSlot(), 10)
	b = append(b, `},"subscription":`...)
	b = append(b, sub.idJSON...)
	return conn.Prepare(append(b, `}}`...)), true
}
