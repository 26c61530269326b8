// Package pubsub implements Solana's RPC PubSub protocol over WebSocket:
// accountSubscribe, programSubscribe, slotSubscribe and their unsubscribes,
// with agave's frames, error codes and subscription de-duplication.
//
// Identical subscriptions (same method and params) share one id and one
// distinct subscription across every connection of the replica, as agave
// does. A notification is encoded once per (encoding, dataSlice) and its
// frame built once per distinct subscription, then queued unchanged on every
// connection holding it.
package pubsub

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/gateway/internal/conn"
	"github.com/firehole/firehole/services/gateway/internal/hub"
	"github.com/firehole/firehole/services/gateway/internal/jsonrpc"
	"github.com/firehole/firehole/services/gateway/internal/metrics"
	"github.com/firehole/firehole/services/gateway/internal/recent"
	"github.com/firehole/firehole/services/gateway/internal/uiaccount"
)

// Version is reported by getVersion.
const (
	SolanaCoreVersion = "2.2.0"
	FeatureSet        = 3294202862
)

// Config is the part of the gateway configuration PubSub uses.
type Config struct {
	Commitment     fireholev1.Commitment // the deployment's data commitment
	MaxSubsPerConn int
	// Recent remembers every account put into a notification, for the
	// replica's reads (nil: not remembered).
	Recent *recent.Accounts
}

// Joiner is the part of the hub PubSub needs.
type Joiner interface {
	Join(subject string, l hub.Listener) (leave func(), err error)
	Flush() error
}

// Sender is one client connection's outbound side (internal/conn.Conn).
// Send queues a reply; SendFrame queues a notification framed once for
// every connection that receives it.
type Sender interface {
	Send(payload []byte) bool
	SendFrame(f conn.Frame) bool
}

// Quota limits one API key's subscriptions and request rate; nil means no limit.
type Quota interface {
	AcquireSub() bool
	ReleaseSub()
	AllowRequest() bool
}

// Server holds every distinct subscription of the replica. Safe for
// concurrent use.
type Server struct {
	cfg Config
	hub Joiner
	log zerolog.Logger
	m   *metrics.Metrics

	mu     sync.Mutex
	byKey  map[string]*subscription
	byID   map[uint64]*subscription
	nextID uint64
}

// New returns a Server.
func New(cfg Config, h Joiner, log zerolog.Logger, m *metrics.Metrics) *Server {
	return &Server{cfg: cfg, hub: h, log: log.With().Str("component", "pubsub").Logger(), m: m,
		byKey: map[string]*subscription{}, byID: map[uint64]*subscription{}}
}

// Session is one connection's PubSub state.
type Session struct {
	srv   *Server
	out   Sender
	quota Quota

	mu     sync.Mutex
	subs   map[uint64]int // id → times subscribed on this connection
	count  int
	closed bool
}

// NewSession starts the PubSub state of a connection; call Close when it ends.
func (s *Server) NewSession(out Sender, quota Quota) *Session {
	return &Session{srv: s, out: out, quota: quota, subs: map[uint64]int{}}
}

// Handle is the connection's inbound message handler (conn.Handler).
func (ss *Session) Handle(_ context.Context, typ websocket.MessageType, data []byte) {
	if typ != websocket.MessageText || !json.Valid(data) {
		ss.reply(jsonrpc.AppendError(nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeParseError, Message: jsonrpc.MsgParseError}))
		ss.srv.m.Request("ws", "", jsonrpc.CodeParseError)
		return
	}
	if jsonrpc.IsBatch(data) {
		var items []json.RawMessage
		_ = json.Unmarshal(data, &items)
		if len(items) == 0 {
			ss.reply(jsonrpc.AppendError(nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: jsonrpc.MsgInvalidRequest}))
			return
		}
		out := []byte{'['}
		n := 0
		for _, it := range items {
			if r := ss.call(it); r != nil {
				if n > 0 {
					out = append(out, ',')
				}
				out = append(out, r...)
				n++
			}
		}
		if n > 0 {
			ss.reply(append(out, ']'))
		}
		return
	}
	if r := ss.call(data); r != nil {
		ss.reply(r)
	}
}

func (ss *Session) reply(frame []byte) { ss.out.Send(frame) }

// call runs one request and returns its response frame (nil for a notification).
func (ss *Session) call(raw []byte) []byte {
	req, perr := jsonrpc.Parse(raw)
	if perr != nil {
		ss.srv.m.Request("ws", req.Method, perr.Code)
		return jsonrpc.AppendError(nil, req.ID, perr)
	}
	if ss.quota != nil && !ss.quota.AllowRequest() {
		ss.srv.m.Request("ws", req.Method, jsonrpc.CodeRateLimited)
		return jsonrpc.AppendError(nil, req.ID, &jsonrpc.Error{Code: jsonrpc.CodeRateLimited, Message: "Too many requests for this API key"})
	}
	result, err := ss.dispatch(req)
	if err != nil {
		ss.srv.m.Request("ws", req.Method, err.Code)
		return jsonrpc.AppendError(nil, req.ID, err)
	}
	ss.srv.m.Request("ws", req.Method, 0)
	if !req.HasID {
		return nil
	}
	return jsonrpc.AppendResult(nil, req.ID, result)
}

func (ss *Session) dispatch(req *jsonrpc.Request) ([]byte, *jsonrpc.Error) {
	switch req.Method {
	case "accountSubscribe":
		return ss.accountSubscribe(req.ParamsArr)
	case "programSubscribe":
		return ss.programSubscribe(req.ParamsArr)
	case "slotSubscribe":
		return ss.subscribe(&spec{kind: kindSlot})
	case "accountUnsubscribe", "programUnsubscribe", "slotUnsubscribe":
		// agave looks the id up whatever the method's kind: any of the
		// three ends any subscription of the connection.
		return ss.unsubscribe(req.ParamsArr)
	case "ping":
		return []byte(`"pong"`), nil
	case "getVersion":
		return VersionJSON(), nil
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: jsonrpc.MsgMethodNotFound}
}

// VersionJSON is the getVersion result.
func VersionJSON() []byte {
	return []byte(`{"solana-core":"` + SolanaCoreVersion + `","feature-set":` + strconv.FormatUint(FeatureSet, 10) + `}`)
}

// msgInvalidPubkey is agave's answer to a bad key in accountSubscribe and
// programSubscribe alike (param::<Pubkey>(.., "pubkey") in rpc/src/rpc_pubsub.rs).
// As there, the config and the filters are checked before the key.
const msgInvalidPubkey = "Invalid Request: Invalid pubkey provided"

func (ss *Session) accountSubscribe(params []json.RawMessage) ([]byte, *jsonrpc.Error) {
	pk, err := jsonrpc.StringParam(params, 0)
	if err != nil {
		return nil, err
	}
	cfg, err := jsonrpc.ParseAccountConfig(jsonrpc.OptParam(params, 1), uiaccount.Binary, ss.srv.cfg.Commitment)
	if err != nil {
		return nil, err
	}
	key, bad := jsonrpc.ParsePubkey(pk)
	if bad != "" {
		return nil, jsonrpc.InvalidParams(msgInvalidPubkey)
	}
	if err := jsonrpc.CheckCommitment(cfg.Commitment, ss.srv.cfg.Commitment); err != nil {
		return nil, err
	}
	return ss.subscribe(&spec{kind: kindAccount, key: key, b58: pk, enc: cfg.Encoding, slice: cfg.Slice, commitment: cfg.Commitment})
}

func (ss *Session) programSubscribe(params []json.RawMessage) ([]byte, *jsonrpc.Error) {
	pk, err := jsonrpc.StringParam(params, 0)
	if err != nil {
		return nil, err
	}
	cfg, err := jsonrpc.ParseAccountConfig(jsonrpc.OptParam(params, 1), uiaccount.Binary, ss.srv.cfg.Commitment)
	if err != nil {
		return nil, err
	}
	fs, ferr := parseFilters(cfg.Filters)
	if ferr != nil {
		return nil, ferr
	}
	key, bad := jsonrpc.ParsePubkey(pk)
	if bad != "" {
		return nil, jsonrpc.InvalidParams(msgInvalidPubkey)
	}
	if err := jsonrpc.CheckCommitment(cfg.Commitment, ss.srv.cfg.Commitment); err != nil {
		return nil, err
	}
	return ss.subscribe(&spec{kind: kindProgram, key: key, b58: pk, enc: cfg.Encoding, slice: cfg.Slice,
		commitment: cfg.Commitment, filters: fs})
}

func (ss *Session) subscribe(sp *spec) ([]byte, *jsonrpc.Error) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternal, Message: "Internal Error: connection closing"}
	}
	if ss.srv.cfg.MaxSubsPerConn > 0 && ss.count >= ss.srv.cfg.MaxSubsPerConn {
		ss.mu.Unlock()
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternal, Message: "Internal Error: Subscription refused. Connection subscription limit reached"}
	}
	ss.count++ // reserve
	ss.mu.Unlock()
	if ss.quota != nil && !ss.quota.AcquireSub() {
		ss.release(1)
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternal, Message: "Internal Error: Subscription refused. API key subscription limit reached"}
	}
	sub, err := ss.srv.acquire(sp, ss)
	if err != nil {
		ss.release(1)
		if ss.quota != nil {
			ss.quota.ReleaseSub()
		}
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternal, Message: "Internal Error"}
	}
	ss.mu.Lock()
	ss.subs[sub.id]++
	ss.mu.Unlock()
	subAdded(ss.srv.m, sp.kind)
	return sub.idJSON, nil
}

func (ss *Session) release(n int) {
	ss.mu.Lock()
	ss.count -= n
	ss.mu.Unlock()
}

func (ss *Session) unsubscribe(params []json.RawMessage) ([]byte, *jsonrpc.Error) {
	id, err := jsonrpc.Uint64Param(params, 0)
	if err != nil {
		return nil, err
	}
	ss.mu.Lock()
	n := ss.subs[id]
	sub := ss.srv.lookup(id)
	if n == 0 || sub == nil {
		ss.mu.Unlock()
		return nil, jsonrpc.InvalidParams(jsonrpc.MsgInvalidSubscription)
	}
	if n == 1 {
		delete(ss.subs, id)
	} else {
		ss.subs[id] = n - 1
	}
	ss.count--
	ss.mu.Unlock()
	ss.srv.releaseSub(sub, ss)
	if ss.quota != nil {
		ss.quota.ReleaseSub()
	}
	subRemoved(ss.srv.m, sub.kind)
	return []byte("true"), nil
}

// Close drops every subscription of the session.
func (ss *Session) Close() {
	ss.mu.Lock()
	ss.closed = true
	subs := ss.subs
	ss.subs = map[uint64]int{}
	ss.count = 0
	ss.mu.Unlock()
	for id, n := range subs {
		sub := ss.srv.lookup(id)
		for range n {
			if sub != nil {
				ss.srv.releaseSub(sub, ss)
				subRemoved(ss.srv.m, sub.kind)
			}
			if ss.quota != nil {
				ss.quota.ReleaseSub()
			}
		}
	}
}

// Count is the number of subscriptions the session holds.
func (ss *Session) Count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.count
}

func (s *Server) lookup(id uint64) *subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

// acquire finds or creates the distinct subscription for sp and adds ss to it.
func (s *Server) acquire(sp *spec, ss *Session) (*subscription, error) {
	k := sp.dedupKey()
	s.mu.Lock()
	sub, ok := s.byKey[k]
	if ok {
		sub.addSession(ss)
		s.mu.Unlock()
		return sub, nil
	}
	sub = newSubscription(s, sp, s.nextID, k)
	s.nextID++
	sub.addSession(ss)
	leave, err := s.hub.Join(sp.subject(), sub)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	sub.leave = leave
	s.byKey[k] = sub
	s.byID[sub.id] = sub
	s.mu.Unlock()
	if s.m != nil {
		s.m.SharedSubs.Inc()
	}
	// Make sure the NATS server knows the interest before the client hears
	// the subscription id and starts expecting notifications.
	if err := s.hub.Flush(); err != nil {
		s.log.Warn().Err(err).Msg("flush nats")
	}
	return sub, nil
}

func (s *Server) releaseSub(sub *subscription, ss *Session) {
	s.mu.Lock()
	last := sub.removeSession(ss)
	if last {
		delete(s.byKey, sub.key)
		delete(s.byID, sub.id)
	}
	s.mu.Unlock()
	if last {
		sub.leave()
		if s.m != nil {
			s.m.SharedSubs.Dec()
		}
	}
}

// Distinct is the number of distinct subscriptions.
func (s *Server) Distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byKey)
}
