package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pipeline measures the whole stack, not the gateway alone: with a running
// Firehole (geyser-sim → ingestor → parser → gateway, e.g. the dev command)
// it subscribes n clients to -owner and reports, over the run, the
// gateway's firehole_gateway_source_to_send_seconds histogram — from the
// Geyser created_at of each account to its notification being queued on a
// client's connection — with percentiles interpolated inside the buckets.
func pipeline(ctx context.Context, o opts) error {
	if o.owner == "" {
		return errors.New("-owner is required: the program whose accounts the running source writes")
	}
	owner, err := ownerKey(o.owner)
	if err != nil {
		return err
	}
	before, err := histogram(o.metrics, "firehole_gateway_source_to_send_seconds")
	if err != nil {
		return err
	}
	conns, err := subscribeRaw(ctx, o, programSubscribeReq(owner))
	if err != nil {
		return err
	}
	var received atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := c.next(false); err != nil {
					return
				}
				received.Add(1)
			}
		}()
	}
	start := time.Now()
	<-ctx.Done()
	el := time.Since(start)
	after, err := histogram(o.metrics, "firehole_gateway_source_to_send_seconds")
	closeRaw(conns)
	wg.Wait()
	if err != nil {
		return err
	}
	d := after.minus(before)
	fmt.Printf("pipeline: %d clients on programSubscribe(%s) for %s: %d notifications (%.0f/s); Geyser created_at -> queued to the client: %d observations, p50 %s p90 %s p99 %s (interpolated in buckets)\n",
		o.n, o.owner, el.Round(time.Millisecond), received.Load(), float64(received.Load())/el.Seconds(), int64(d.count),
		ms(d.quantile(0.5)), ms(d.quantile(0.9)), ms(d.quantile(0.99)))
	return nil
}

func ms(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return strconv.FormatFloat(s*1000, 'f', 2, 64) + "ms"
}

// hist is a Prometheus histogram read from the text format.
type hist struct {
	bounds []float64 // upper bounds, ascending, last is +Inf
	counts []float64 // cumulative
	count  float64
}

func histogram(metricsURL, name string) (hist, error) {
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		return hist{}, err
	}
	defer resp.Body.Close()
	type bucket struct{ le, n float64 }
	var bs []bucket
	var h hist
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+`_bucket{le="`); ok {
			le, val, ok := strings.Cut(rest, `"} `)
			if !ok {
				continue
			}
			b := bucket{n: parseF(val)}
			if le == "+Inf" {
				b.le = math.Inf(1)
			} else {
				b.le = parseF(le)
			}
			bs = append(bs, b)
		} else if v, ok := strings.CutPrefix(line, name+"_count "); ok {
			h.count = parseF(v)
		}
	}
	if len(bs) == 0 {
		return hist{}, fmt.Errorf("%s not found at %s", name, metricsURL)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	for _, b := range bs {
		h.bounds = append(h.bounds, b.le)
		h.counts = append(h.counts, b.n)
	}
	return h, sc.Err()
}

func parseF(s string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f
}

func (h hist) minus(o hist) hist {
	out := hist{bounds: h.bounds, counts: make([]float64, len(h.counts)), count: h.count - o.count}
	for i := range h.counts {
		out.counts[i] = h.counts[i]
		if i < len(o.counts) {
			out.counts[i] -= o.counts[i]
		}
	}
	return out
}

// quantile interpolates linearly inside the bucket that holds q.
func (h hist) quantile(q float64) float64 {
	if h.count <= 0 {
		return math.NaN()
	}
	rank := q * h.count
	lower, prev := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank {
			upper := h.bounds[i]
			if math.IsInf(upper, 1) {
				return lower
			}
			if c == prev {
				return upper
			}
			return lower + (upper-lower)*(rank-prev)/(c-prev)
		}
		lower, prev = h.bounds[i], c
	}
	return lower
}
