package native

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/solana"
)

const benchParsed = `{"type":"account","info":{"isNative":false,"mint":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v","owner":"9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM","state":"initialized","tokenAmount":{"amount":"1500000","decimals":6,"uiAmount":1.5,"uiAmountString":"1.5"}}}`

// BenchmarkDeliverPath is the per-message work of one subscription: the
// filters, two where conditions (decoding the parsed JSON) and the frame.
func BenchmarkDeliverPath(b *testing.B) {
	d := acct(solana.TokenProgramID, key("a"), 1000, tokenData(key("m"), key("o"), 1500000), benchParsed)
	var specs []whereSpec
	_ = json.Unmarshal([]byte(`[{"path":"parsed.info.state","op":"eq","value":"initialized"},{"path":"parsed.info.tokenAmount.amount","op":"gt","value":"1000"}]`), &specs)
	where, err := parseWhere(specs)
	if err != nil {
		b.Fatal(err)
	}
	sp := &spec{where: where, encoding: encBase64}
	b.ReportAllocs()
	for b.Loop() {
		if !sp.matches(d) {
			b.Fatal("no match")
		}
		_ = accountFrame("update", "sub-1", appendAccount(nil, d, sp.encoding), 1000, 12345)
	}
}

// BenchmarkFanout measures stream-to-socket delivery: clients each
// subscribe to one program and b.N updates are published; the clock stops
// when every client has read every update.
func BenchmarkFanout(b *testing.B) {
	for _, clients := range []int{1, 20} {
		b.Run(fmt.Sprint("clients=", clients), func(b *testing.B) {
			e := newEnv(b, Limits{MaxQueueMsgs: 1 << 20, MaxQueueBytes: 1 << 30})
			prog := key("bench")
			cs := make([]*client, clients)
			for i := range cs {
				cs[i] = e.dial()
				cs[i].send([]byte(fmt.Sprintf(`{"op":"subscribe","id":"s","programs":[%q]}`, b58k(prog))))
				cs[i].expect("subscribed")
			}
			msgs := make([][]byte, 64)
			for i := range msgs {
				d := acct(prog, key(fmt.Sprint(i)), uint64(i+1), tokenData(key("m"), key("o"), uint64(i)), benchParsed)
				msgs[i], _ = proto.Marshal(d)
			}
			subject := bus.DecodedAccountSubject(prog[:], prog[:])
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for _, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range b.N {
						if _, err := c.read(time.Minute); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			for i := range b.N {
				if _, err := e.js.PublishAsync(subject, msgs[i%len(msgs)]); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-e.js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("publish did not complete")
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N*clients)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
