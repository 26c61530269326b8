// Package rpc serves Solana's JSON-RPC over HTTP for account reads:
// getAccountInfo, getMultipleAccounts, getBalance, getTokenAccountBalance and
// getTokenSupply from Redis, getProgramAccounts, getTokenAccountsBy{Owner,Delegate} and
// getTokenLargestAccounts from Postgres, getSlot, getHealth, getVersion, and
// batches. Responses have agave's shape and error texts;
// unknown methods get -32601 or, when an upstream is configured, are passed
// through to it.
package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/pkg/solana/uiamount"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/gateway/internal/filter"
	"github.com/firehole/firehole/services/gateway/internal/jsonrpc"
	"github.com/firehole/firehole/services/gateway/internal/metrics"
	"github.com/firehole/firehole/services/gateway/internal/pubsub"
	"github.com/firehole/firehole/services/gateway/internal/store"
	"github.com/firehole/firehole/services/gateway/internal/uiaccount"
)

// Limits from agave.
const (
	MaxMultipleAccounts = 100
	MaxRequestBody      = 50 * 1024
	APIVersion          = pubsub.SolanaCoreVersion
)

// Cache is the hot account store (Redis).
type Cache interface {
	Get(ctx context.Context, pubkey string) (*fireholev1.DecodedAccount, error)
	MGet(ctx context.Context, pubkeys []string) ([]*fireholev1.DecodedAccount, error)
	LatestSlot(ctx context.Context, commitment string) (uint64, error)
}

// accountWithSlot is an optional ability of a Cache: the account and the
// latest slot at a commitment in one round trip.
type accountWithSlot interface {
	GetWithSlot(ctx context.Context, pubkey, commitment string) (*fireholev1.DecodedAccount, uint64, error)
}

// Index answers account queries (Postgres).
type Index interface {
	Accounts(ctx context.Context, q store.Query) ([]*fireholev1.DecodedAccount, error)
	LargestTokenAccounts(ctx context.Context, mint, owner []byte, n int) ([]store.TokenBalance, error)
}

// MaxLargestAccounts is how many accounts getTokenLargestAccounts returns (agave's 20).
const MaxLargestAccounts = 20

// Limiter rate-limits one request's API key; nil means none.
type Limiter interface{ AllowRequest() bool }

// Config is what the handler needs from the gateway config.
type Config struct {
	Commitment  fireholev1.Commitment
	UpstreamURL string
	Timeout     time.Duration
}

// Handler serves JSON-RPC over HTTP.
type Handler struct {
	cfg      Config
	cache    Cache
	index    Index
	log      zerolog.Logger
	m        *metrics.Metrics
	upstream *http.Client
	// LimiterFor returns the rate limiter of the request's API key (set by auth).
	LimiterFor func(r *http.Request) Limiter
}

// New returns a Handler. index may be nil (program queries then fail with -32603).
func New(cfg Config, cache Cache, index Index, log zerolog.Logger, m *metrics.Metrics) *Handler {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Handler{cfg: cfg, cache: cache, index: index, log: log.With().Str("component", "rpc").Logger(), m: m,
		upstream: &http.Client{Timeout: cfg.Timeout}}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/health" {
		_, _ = w.Write([]byte("ok"))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "Used HTTP Method is not allowed. POST or OPTIONS is required", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBody+1))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if len(body) > MaxRequestBody {
		http.Error(w, "Payload Too Large", http.StatusRequestEntityTooLarge)
		return
	}
	var lim Limiter
	if h.LimiterFor != nil {
		lim = h.LimiterFor(r)
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	out := h.Handle(ctx, body, lim)
	w.Header().Set("Content-Type", "application/json")
	if out == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	_, _ = w.Write(out)
}

// Handle answers one HTTP body: a request or a batch.
func (h *Handler) Handle(ctx context.Context, body []byte, lim Limiter) []byte {
	if !json.Valid(body) {
		h.m.Request("http", "", jsonrpc.CodeParseError)
		return jsonrpc.AppendError(nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeParseError, Message: jsonrpc.MsgParseError})
	}
	if !jsonrpc.IsBatch(body) {
		return h.call(ctx, body, lim)
	}
	var items []json.RawMessage
	_ = json.Unmarshal(body, &items)
	if len(items) == 0 {
		return jsonrpc.AppendError(nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: jsonrpc.MsgInvalidRequest})
	}
	out := []byte{'['}
	n := 0
	for _, it := range items {
		r := h.call(ctx, it, lim)
		if r == nil {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, r...)
		n++
	}
	if n == 0 {
		return nil
	}
	return append(out, ']')
}

func (h *Handler) call(ctx context.Context, raw []byte, lim Limiter) []byte {
	req, perr := jsonrpc.Parse(raw)
	if perr != nil {
		h.m.Request("http", req.Method, perr.Code)
		return jsonrpc.AppendError(nil, req.ID, perr)
	}
	if lim != nil && !lim.AllowRequest() {
		h.m.Request("http", req.Method, jsonrpc.CodeRateLimited)
		return jsonrpc.AppendError(nil, req.ID, &jsonrpc.Error{Code: jsonrpc.CodeRateLimited, Message: "Too many requests for this API key"})
	}
	result, err := h.dispatch(ctx, req)
	if errors.Is(err, errPassThrough) {
		out, perr := h.passThrough(ctx, raw)
		if perr == nil {
			h.m.Request("http", "other", 0)
			return out
		}
		h.log.Warn().Err(perr).Str("method", req.Method).Msg("upstream")
		err = &jsonrpc.Error{Code: jsonrpc.CodeInternal, Message: "Internal error: upstream unavailable"}
	}
	if err != nil {
		var je *jsonrpc.Error
		if !errors.As(err, &je) {
			h.log.Warn().Err(err).Str("method", req.Method).Msg("rpc call")
			je = &jsonrpc.Error{Code: jsonrpc.CodeInternal, Message: "Internal error"}
		}
		h.m.Request("http", req.Method, je.Code)
		return jsonrpc.AppendError(nil, req.ID, je)
	}
	h.m.Request("http", req.Method, 0)
	if !req.HasID {
		return nil
	}
	return jsonrpc.AppendResult(nil, req.ID, result)
}

var errPassThrough = errors.New("pass through")

var errNoIndex = &jsonrpc.Error{Code: jsonrpc.CodeInternal, Message: "Internal error: account index not configured"}

func (h *Handler) dispatch(ctx context.Context, req *jsonrpc.Request) ([]byte, error) {
	p := req.ParamsArr
	switch req.Method {
	case "getAccountInfo":
		return h.getAccountInfo(ctx, p)
	case "getMultipleAccounts":
		return h.getMultipleAccounts(ctx, p)
	case "getProgramAccounts":
		return h.getProgramAccounts(ctx, p)
	case "getTokenAccountsByOwner":
		return h.getTokenAccounts(ctx, p, false)
	case "getTokenAccountsByDelegate":
		return h.getTokenAccounts(ctx, p, true)
	case "getBalance":
		return h.getBalance(ctx, p)
	case "getTokenAccountBalance":
		return h.getTokenAccountBalance(ctx, p)
	case "getTokenSupply":
		return h.getTokenSupply(ctx, p)
	case "getTokenLargestAccounts":
		return h.getTokenLargestAccounts(ctx, p)
	case "getSlot":
		return h.getSlot(ctx, p)
	case "getHealth":
		return []byte(`"ok"`), nil
	case "getVersion":
		return pubsub.VersionJSON(), nil
	}
	if h.cfg.UpstreamURL != "" {
		return nil, errPassThrough
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: jsonrpc.MsgMethodNotFound}
}

func (h *Handler) passThrough(ctx context.Context, raw []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.UpstreamURL, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.upstream.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, errors.New("upstream answered with invalid JSON, status " + resp.Status)
	}
	return b, nil
}

func pubkeyParam(params []json.RawMessage, i int) (string, []byte, error) {
	s, err := jsonrpc.StringParam(params, i)
	if err != nil {
		return "", nil, err
	}
	k, bad := jsonrpc.ParsePubkey(s)
	if bad != "" {
		return "", nil, jsonrpc.InvalidParams("Invalid param: " + bad)
	}
	return s, k[:], nil
}

func (h *Handler) config(raw json.RawMessage) (jsonrpc.AccountConfig, error) {
	cfg, err := jsonrpc.ParseAccountConfig(raw, uiaccount.Binary, h.cfg.Commitment)
	if err != nil {
		return cfg, err
	}
	if err := jsonrpc.CheckCommitment(cfg.Commitment, h.cfg.Commitment); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// contextSlot is the slot of the response context: the latest slot at the
// asked commitment (or the deployment's), checked against minContextSlot.
func (h *Handler) contextSlot(ctx context.Context, cfg jsonrpc.AccountConfig) (uint64, error) {
	slot, err := h.cache.LatestSlot(ctx, bus.CommitmentToken(cfg.Commitment))
	if err != nil {
		return 0, err
	}
	return h.checkContextSlot(ctx, cfg, slot)
}

// checkContextSlot finishes contextSlot given the slot read at cfg's commitment.
func (h *Handler) checkContextSlot(ctx context.Context, cfg jsonrpc.AccountConfig, slot uint64) (uint64, error) {
	var err error
	if slot == 0 && cfg.Commitment != h.cfg.Commitment {
		if slot, err = h.cache.LatestSlot(ctx, bus.CommitmentToken(h.cfg.Commitment)); err != nil {
			return 0, err
		}
	}
	if cfg.MinContextSlot > 0 && slot < cfg.MinContextSlot {
		return 0, &jsonrpc.Error{Code: jsonrpc.CodeMinContextSlot, Message: jsonrpc.MsgMinContextSlotReach,
			Data: []byte(`{"contextSlot":` + strconv.FormatUint(slot, 10) + `}`)}
	}
	return slot, nil
}

func appendContext(dst []byte, slot uint64) []byte {
	dst = append(dst, `{"context":{"apiVersion":"`+APIVersion+`","slot":`...)
	dst = strconv.AppendUint(dst, slot, 10)
	return append(dst, `},"value":`...)
}

// checkEncoding is agave's check for base58 output of large data
// (encode_account in rpc/src/rpc.rs: an InvalidRequest error, -32600).
func checkEncoding(a *fireholev1.DecodedAccount, cfg jsonrpc.AccountConfig) error {
	if cfg.Encoding == uiaccount.Binary || cfg.Encoding == uiaccount.Base58 {
		if len(cfg.Slice.Apply(a.GetAccount().GetData())) > uiaccount.MaxBase58Bytes {
			return &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: jsonrpc.MsgBase58TooLargeForRPC}
		}
	}
	return nil
}

func maxSlot(slot uint64, as ...*fireholev1.DecodedAccount) uint64 {
	for _, a := range as {
		if s := a.GetAccount().GetSlot(); s > slot {
			slot = s
		}
	}
	return slot
}

func (h *Handler) getAccountInfo(ctx context.Context, p []json.RawMessage) ([]byte, error) {
	a, slot, cfg, err := h.accountRequest(ctx, p)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return append(appendContext(nil, slot), "null}"...), nil
	}
	if err := checkEncoding(a, cfg); err != nil {
		return nil, err
	}
	out := appendContext(nil, slot)
	out = uiaccount.Append(out, a, cfg.Encoding, cfg.Slice)
	return append(out, '}'), nil
}

func (h *Handler) getMultipleAccounts(ctx context.Context, p []json.RawMessage) ([]byte, error) {
	if len(p) == 0 {
		return nil, jsonrpc.InvalidParams("Invalid params: invalid length 0, expected at least 1.")
	}
	var keys []string
	if err := json.Unmarshal(p[0], &keys); err != nil {
		return nil, jsonrpc.InvalidParams("Invalid params: invalid type: expected a sequence of strings.")
	}
	if len(keys) > MaxMultipleAccounts {
		return nil, jsonrpc.InvalidParams("Too many inputs provided; max " + strconv.Itoa(MaxMultipleAccounts))
	}
	for _, k := range keys {
		if _, bad := jsonrpc.ParsePubkey(k); bad != "" {
			return nil, jsonrpc.InvalidParams("Invalid param: " + bad)
		}
	}
	cfg, err := h.config(jsonrpc.OptParam(p, 1))
	if err != nil {
		return nil, err
	}
	slot, err := h.contextSlot(ctx, cfg)
	if err != nil {
		return nil, err
	}
	as, err := h.cache.MGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if a != nil {
			if err := checkEncoding(a, cfg); err != nil {
				return nil, err
			}
		}
	}
	out := appendContext(nil, maxSlot(slot, as...))
	out = append(out, '[')
	for i, a := range as {
		if i > 0 {
			out = append(out, ',')
		}
		if a == nil {
			out = append(out, "null"...)
			continue
		}
		out = uiaccount.Append(out, a, cfg.Encoding, cfg.Slice)
	}
	return append(out, "]}"...), nil
}

func (h *Handler) getProgramAccounts(ctx context.Context, p []json.RawMessage) ([]byte, error) {
	_, owner, cfg, err := h.pubkeyAndConfig(p)
	if err != nil {
		return nil, err
	}
	fs, ferr := filter.Parse(cfg.Filters)
	if ferr != nil {
		return nil, jsonrpc.InvalidParams(ferr.Error())
	}
	return h.keyedAccounts(ctx, cfg, store.Query{Owner: owner, Filters: fs}, cfg.WithContext)
}

func (h *Handler) keyedAccounts(ctx context.Context, cfg jsonrpc.AccountConfig, q store.Query, withContext bool) ([]byte, error) {
	if h.index == nil {
		return nil, errNoIndex
	}
	var slot uint64
	var err error
	if withContext {
		if slot, err = h.contextSlot(ctx, cfg); err != nil {
			return nil, err
		}
	}
	as, err := h.index.Accounts(ctx, q)
	if errors.Is(err, store.ErrTooMany) {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternal, Message: "Internal error: too many accounts match; narrow the filters"}
	}
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if err := checkEncoding(a, cfg); err != nil {
			return nil, err
		}
	}
	var out []byte
	if withContext {
		out = appendContext(out, maxSlot(slot, as...))
	}
	out = append(out, '[')
	for i, a := range as {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"pubkey":"`...)
		out = uiaccount.AppendKey(out, a.GetAccount().GetPubkey())
		out = append(out, `","account":`...)
		out = uiaccount.Append(out, a, cfg.Encoding, cfg.Slice)
		out = append(out, '}')
	}
	out = append(out, ']')
	if withContext {
		out = append(out, '}')
	}
	return out, nil
}

var tokenPrograms = [][]byte{solana.TokenProgramID[:], solana.Token2022ProgramID[:]}

func (h *Handler) getTokenAccounts(ctx context.Context, p []json.RawMessage, delegate bool) ([]byte, error) {
	_, who, err := pubkeyParam(p, 0)
	if err != nil {
		return nil, err
	}
	if len(p) < 2 {
		return nil, jsonrpc.InvalidParams("Invalid params: invalid length 1, expected at least 2.")
	}
	var tf struct {
		Mint      *string `json:"mint"`
		ProgramID *string `json:"programId"`
	}
	if err := json.Unmarshal(p[1], &tf); err != nil || (tf.Mint == nil) == (tf.ProgramID == nil) {
		return nil, jsonrpc.InvalidParams("Invalid params: expected exactly one of `mint`, `programId`.")
	}
	q := store.Query{Owners: tokenPrograms}
	if delegate {
		q.TokenDelegate = who
	} else {
		q.TokenOwner = who
	}
	if tf.Mint != nil {
		k, bad := jsonrpc.ParsePubkey(*tf.Mint)
		if bad != "" {
			return nil, jsonrpc.InvalidParams("Invalid param: " + bad)
		}
		owner, err := h.mintOwner(ctx, k)
		if err != nil {
			return nil, err
		}
		q.TokenMint, q.Owners = k[:], [][]byte{owner[:]}
	} else {
		k, bad := jsonrpc.ParsePubkey(*tf.ProgramID)
		if bad != "" {
			return nil, jsonrpc.InvalidParams("Invalid param: " + bad)
		}
		if k != solana.TokenProgramID && k != solana.Token2022ProgramID {
			return nil, jsonrpc.InvalidParams("Invalid param: unrecognized Token program id")
		}
		q.Owners = [][]byte{k[:]}
	}
	cfg, err := h.config(jsonrpc.OptParam(p, 2))
	if err != nil {
		return nil, err
	}
	return h.keyedAccounts(ctx, cfg, q, true)
}

// mintOwner is the token program that owns mint, as agave looks it up for a
// {"mint": …} filter: wrapped SOL is SPL Token's; an unknown mint or one
// owned by another program is an invalid param.
func (h *Handler) mintOwner(ctx context.Context, mint [32]byte) ([32]byte, error) {
	if mint == solana.WrappedSOLMintID {
		return solana.TokenProgramID, nil
	}
	a, err := h.cache.Get(ctx, base58.Encode32(&mint))
	if err != nil {
		return [32]byte{}, err
	}
	if a == nil {
		return [32]byte{}, jsonrpc.InvalidParams("Invalid param: could not find mint")
	}
	var owner [32]byte
	copy(owner[:], a.GetAccount().GetOwner())
	if owner != solana.TokenProgramID && owner != solana.Token2022ProgramID {
		return [32]byte{}, jsonrpc.InvalidParams("Invalid param: not a Token mint")
	}
	return owner, nil
}

// pubkeyAndConfig reads the [pubkey, config] params most methods take.
func (h *Handler) pubkeyAndConfig(p []json.RawMessage) (string, []byte, jsonrpc.AccountConfig, error) {
	pk, key, err := pubkeyParam(p, 0)
	if err != nil {
		return "", nil, jsonrpc.AccountConfig{}, err
	}
	cfg, err := h.config(jsonrpc.OptParam(p, 1))
	return pk, key, cfg, err
}

// accountRequest reads the [pubkey, config] params and the account they
// name (see account).
func (h *Handler) accountRequest(ctx context.Context, p []json.RawMessage) (*fireholev1.DecodedAccount, uint64, jsonrpc.AccountConfig, error) {
	pk, _, cfg, err := h.pubkeyAndConfig(p)
	if err != nil {
		return nil, 0, cfg, err
	}
	a, slot, err := h.account(ctx, pk, cfg)
	return a, slot, cfg, err
}

// tokenProgramAccount is accountRequest for the token methods, with agave's
// errors: "could not find account" when it is missing, notOwned when no
// token program owns it.
func (h *Handler) tokenProgramAccount(ctx context.Context, p []json.RawMessage, notOwned string) (*fireholev1.DecodedAccount, uint64, error) {
	a, slot, _, err := h.accountRequest(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	if a == nil {
		return nil, 0, jsonrpc.InvalidParams("Invalid param: could not find account")
	}
	var owner [32]byte
	copy(owner[:], a.GetAccount().GetOwner())
	if owner != solana.TokenProgramID && owner != solana.Token2022ProgramID {
		return nil, 0, jsonrpc.InvalidParams(notOwned)
	}
	return a, slot, nil
}

// account reads one account and the response's context slot: the latest
// slot at the asked commitment, raised to the account's own (a is nil when
// Redis holds none or it is closed). With a cache that can, one round trip.
func (h *Handler) account(ctx context.Context, pk string, cfg jsonrpc.AccountConfig) (*fireholev1.DecodedAccount, uint64, error) {
	if c, ok := h.cache.(accountWithSlot); ok {
		a, slot, err := c.GetWithSlot(ctx, pk, bus.CommitmentToken(cfg.Commitment))
		if err != nil {
			return nil, 0, err
		}
		slot, err = h.checkContextSlot(ctx, cfg, slot)
		return a, maxSlot(slot, a), err
	}
	slot, err := h.contextSlot(ctx, cfg)
	if err != nil {
		return nil, 0, err
	}
	a, err := h.cache.Get(ctx, pk)
	return a, maxSlot(slot, a), err
}

// getBalance is the account's lamports; 0 for an account the stores do
// not hold, as agave answers for a missing account.
func (h *Handler) getBalance(ctx context.Context, p []json.RawMessage) ([]byte, error) {
	a, slot, _, err := h.accountRequest(ctx, p)
	if err != nil {
		return nil, err
	}
	out := appendContext(nil, slot)
	out = strconv.AppendUint(out, a.GetAccount().GetLamports(), 10)
	return append(out, '}'), nil
}

// getTokenAccountBalance is the tokenAmount the parser computed for the
// token account (with its mint's decimals and, for Token-2022, interest or
// scaling at decode time), with agave's errors.
func (h *Handler) getTokenAccountBalance(ctx context.Context, p []json.RawMessage) ([]byte, error) {
	a, slot, err := h.tokenProgramAccount(ctx, p, "Invalid param: not a Token account")
	if err != nil {
		return nil, err
	}
	if a.GetStatus() == fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT {
		// The parser has not seen the mint (nor has Redis): agave's answer
		// for a mint it cannot find.
		return nil, jsonrpc.InvalidParams("Invalid param: could not find mint")
	}
	var parsed struct {
		Info struct {
			TokenAmount json.RawMessage `json:"tokenAmount"`
		} `json:"info"`
		Type string `json:"type"`
	}
	if a.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_OK || json.Unmarshal(a.GetParsed(), &parsed) != nil ||
		parsed.Type != "account" || len(parsed.Info.TokenAmount) == 0 {
		return nil, jsonrpc.InvalidParams("Invalid param: not a Token account")
	}
	out := appendContext(nil, slot)
	out = append(out, parsed.Info.TokenAmount...)
	return append(out, '}'), nil
}

// getTokenSupply is the mint's supply as agave's UiTokenAmount, with
// Token-2022 interest or scaling applied at the cluster's clock (the Clock
// sysvar when the stores hold it, else this host's).
func (h *Handler) getTokenSupply(ctx context.Context, p []json.RawMessage) ([]byte, error) {
	a, slot, err := h.tokenProgramAccount(ctx, p, "Invalid param: not a Token mint")
	if err != nil {
		return nil, err
	}
	supply, mi, ok := mintOf(a)
	if !ok {
		return nil, jsonrpc.InvalidParams("Invalid param: mint could not be unpacked")
	}
	var now int64
	if mi.HasInterestBearing || mi.HasScaledUIAmount {
		if now, err = h.clock(ctx); err != nil {
			return nil, err
		}
	}
	out := appendContext(nil, slot)
	out = uiamount.AppendTokenAmount(out, supply, &mi, now)
	return append(out, '}'), nil
}

// mintOf reads the supply and the UI-amount description of a mint from the
// parser's jsonParsed form of it.
func mintOf(a *fireholev1.DecodedAccount) (supply uint64, mi uiamount.MintInfo, ok bool) {
	var parsed struct {
		Info struct {
			Decimals   *uint8 `json:"decimals"`
			Supply     string `json:"supply"`
			Extensions []struct {
				Extension string          `json:"extension"`
				State     json.RawMessage `json:"state"`
			} `json:"extensions"`
		} `json:"info"`
		Type string `json:"type"`
	}
	if a.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_OK || json.Unmarshal(a.GetParsed(), &parsed) != nil ||
		parsed.Type != "mint" || parsed.Info.Decimals == nil {
		return 0, mi, false
	}
	supply, err := strconv.ParseUint(parsed.Info.Supply, 10, 64)
	if err != nil {
		return 0, mi, false
	}
	mi.Decimals = *parsed.Info.Decimals
	for _, e := range parsed.Info.Extensions {
		switch e.Extension {
		case "interestBearingConfig":
			var c struct {
				CurrentRate             int16 `json:"currentRate"`
				InitializationTimestamp int64 `json:"initializationTimestamp"`
				LastUpdateTimestamp     int64 `json:"lastUpdateTimestamp"`
				PreUpdateAverageRate    int16 `json:"preUpdateAverageRate"`
			}
			if json.Unmarshal(e.State, &c) != nil {
				return 0, mi, false
			}
			mi.HasInterestBearing = true
			mi.InterestBearing = uiamount.InterestBearingConfig{InitializationTimestamp: c.InitializationTimestamp,
				PreUpdateAverageRate: c.PreUpdateAverageRate, LastUpdateTimestamp: c.LastUpdateTimestamp, CurrentRate: c.CurrentRate}
		case "scaledUiAmountConfig":
			var c struct {
				Multiplier                      string `json:"multiplier"`
				NewMultiplier                   string `json:"newMultiplier"`
				NewMultiplierEffectiveTimestamp int64  `json:"newMultiplierEffectiveTimestamp"`
			}
			if json.Unmarshal(e.State, &c) != nil {
				return 0, mi, false
			}
			m, err1 := strconv.ParseFloat(c.Multiplier, 64)
			n, err2 := strconv.ParseFloat(c.NewMultiplier, 64)
			if err1 != nil || err2 != nil {
				return 0, mi, false
			}
			mi.HasScaledUIAmount = true
			mi.ScaledUIAmount = uiamount.ScaledUIAmountConfig{Multiplier: m, NewMultiplier: n,
				NewMultiplierEffectiveTimestamp: c.NewMultiplierEffectiveTimestamp}
		}
	}
	return supply, mi, true
}

var clockSysvar = base58.Encode32(&solana.SysvarClockID)

// clock is the cluster's unix time: the Clock sysvar's unix_timestamp when
// the stores hold it, else this host's clock (as the parser does).
func (h *Handler) clock(ctx context.Context) (int64, error) {
	a, err := h.cache.Get(ctx, clockSysvar)
	if err != nil {
		return 0, err
	}
	if ts, ok := solana.ClockUnixTimestamp(a.GetAccount().GetData()); ok {
		return ts, nil
	}
	return time.Now().Unix(), nil
}

// getTokenLargestAccounts lists the mint's 20 largest token accounts from
// Postgres, as agave's: {address, amount, decimals, uiAmount, uiAmountString}.
func (h *Handler) getTokenLargestAccounts(ctx context.Context, p []json.RawMessage) ([]byte, error) {
	_, mint, cfg, err := h.pubkeyAndConfig(p)
	if err != nil {
		return nil, err
	}
	if h.index == nil {
		return nil, errNoIndex
	}
	owner, err := h.mintOwner(ctx, [32]byte(mint))
	if err != nil {
		return nil, err
	}
	slot, err := h.contextSlot(ctx, cfg)
	if err != nil {
		return nil, err
	}
	bs, err := h.index.LargestTokenAccounts(ctx, mint, owner[:], MaxLargestAccounts)
	if err != nil {
		return nil, err
	}
	out := appendContext(nil, slot)
	out = append(out, '[')
	for i, b := range bs {
		if len(b.Amount) < 2 || b.Amount[0] != '{' {
			return nil, fmt.Errorf("token amount of %s is not an object", base58.Encode(b.Pubkey))
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"address":"`...)
		out = base58.AppendEncode(out, b.Pubkey)
		out = append(out, `",`...)
		out = append(out, b.Amount[1:]...) // the amount's own fields, in order after "address"
	}
	return append(out, "]}"...), nil
}

func (h *Handler) getSlot(ctx context.Context, p []json.RawMessage) ([]byte, error) {
	cfg, err := h.config(jsonrpc.OptParam(p, 0))
	if err != nil {
		return nil, err
	}
	slot, err := h.contextSlot(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return strconv.AppendUint(nil, slot, 10), nil
}
