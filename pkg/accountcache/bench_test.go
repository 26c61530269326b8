package accountcache

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWriter measures the cacher's write path: batches of 512 distinct
// accounts (165-byte data, 64 programs) through Writer.Write from 4
// goroutines, as the cacher's workers do. One op is one account update.
//
//	go test -run '^$' -bench BenchmarkWriter -benchtime 200000x ./accountcache
func BenchmarkWriter(b *testing.B) {
	c, prefix := redisClient(b)
	const batch, workers, accounts = 512, 4, 50_000
	ups := make([]Update, accounts)
	for i := range ups {
		ups[i] = upd(b, i, i%64, 1, 0, ok, 1)
	}
	var next atomic.Int64
	var slot atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			w := NewWriter(c, prefix, 0)
			buf := make([]Update, batch)
			for {
				from := int(next.Add(batch)) - batch
				if from >= b.N {
					return
				}
				n := min(batch, b.N-from)
				s := slot.Add(1) // every batch newer than the last: all applied
				for j := range n {
					buf[j] = ups[(from+j)%accounts]
					buf[j].Slot = s
				}
				if _, err := w.Write(context.Background(), buf[:n]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "updates/s")
}
