package bus

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateSpecs = flag.Bool("update", false, "rewrite deploy/jetstream from the code")

// TestStreamSpecFiles keeps deploy/jetstream/*.json (for `nats stream add
// --config`) identical to the streams the services create.
func TestStreamSpecFiles(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "jetstream")
	for _, cfg := range Streams(DefaultStreamOptions()) {
		want, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		path := filepath.Join(dir, cfg.Name+".json")
		if *updateSpecs {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run: go test ./bus -run StreamSpecFiles -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the code's stream config (run: go test ./bus -run StreamSpecFiles -update)\n got: %s\nwant: %s", path, got, want)
		}
	}
}
