package sim

import (
	"context"
	"testing"
	"time"

	"github.com/firehole/firehole/proto/geyser"
)

func TestSmokeProcessedStream(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := subscribe(t, ctx, c, &geyser.SubscribeRequest{
		Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"all": {}},
		Slots:    map[string]*geyser.SubscribeRequestFilterSlots{"s": {}},
	})
	var accts, slots int
	for accts < 200 || slots < 3 {
		u, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch x := u.UpdateOneof.(type) {
		case *geyser.SubscribeUpdate_Account:
			accts++
			if len(u.Filters) != 1 || u.Filters[0] != "all" {
				t.Fatalf("filters %v", u.Filters)
			}
			if len(x.Account.Account.Pubkey) != 32 || u.CreatedAt == nil {
				t.Fatalf("bad account update %v", u)
			}
		case *geyser.SubscribeUpdate_Slot:
			slots++
			if len(u.Filters) != 1 || u.Filters[0] != "s" {
				t.Fatalf("filters %v", u.Filters)
			}
		}
	}
}
