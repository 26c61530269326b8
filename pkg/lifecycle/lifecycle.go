// Package lifecycle runs a service's components together, serves its
// operational HTTP endpoints (/healthz, /readyz, /metrics) and shuts it down
// in order.
package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"
)

// Component is one long-running part of a service. Run returns when ctx is
// cancelled (returning nil) or when it fails.
type Component struct {
	Name string
	Run  func(ctx context.Context) error
}

// Run runs every component until ctx ends or one of them fails; a failure
// cancels the others. It returns the first failure, or nil on a clean stop.
func Run(ctx context.Context, log zerolog.Logger, comps ...Component) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range comps {
		g.Go(func() error {
			err := c.Run(gctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Error().Err(err).Str("component", c.Name).Msg("component stopped")
				return err
			}
			log.Debug().Str("component", c.Name).Msg("component stopped")
			return nil
		})
	}
	return g.Wait()
}

// Health holds a service's liveness checks and readiness flag.
// It is safe for concurrent use.
type Health struct {
	ready  atomic.Bool
	mu     sync.Mutex
	checks map[string]func(context.Context) error
}

// NewHealth returns a Health that is not ready.
func NewHealth() *Health { return &Health{checks: map[string]func(context.Context) error{}} }

// SetReady flips readiness; set false first thing on shutdown so load
// balancers stop sending work.
func (h *Health) SetReady(ok bool) { h.ready.Store(ok) }

// AddCheck registers a dependency check run by /readyz.
func (h *Health) AddCheck(name string, check func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
}

// Handler serves /healthz (process alive), /readyz (ready and every check
// passes) and /metrics from the given registry.
func (h *Health) Handler(reg prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, failures := http.StatusOK, map[string]string{}
		if !h.ready.Load() {
			status, failures["service"] = http.StatusServiceUnavailable, "not ready"
		}
		h.mu.Lock()
		checks := make(map[string]func(context.Context) error, len(h.checks))
		for k, v := range h.checks {
			checks[k] = v
		}
		h.mu.Unlock()
		for name, check := range checks {
			if err := check(ctx); err != nil {
				status, failures[name] = http.StatusServiceUnavailable, err.Error()
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": status == http.StatusOK, "failures": failures})
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// ServeHTTP runs srv on addr until ctx ends, then shuts it down gracefully
// within grace. It is a Component body.
func ServeHTTP(ctx context.Context, addr string, handler http.Handler, grace time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ServeListener(ctx, ln, handler, grace)
}

// ServeListener is ServeHTTP on an existing listener.
func ServeListener(ctx context.Context, ln net.Listener, handler http.Handler, grace time.Duration) error {
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return srv.Close()
	}
	return nil
}
