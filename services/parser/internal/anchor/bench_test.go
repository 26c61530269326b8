package anchor

import (
	"path/filepath"
	"testing"
)

// BenchmarkDecode decodes real fixture accounts with a reused buffer, the
// way the parser service calls AppendDecode.
func BenchmarkDecode(b *testing.B) {
	fixtures := loadFixtures(b)
	for _, name := range []string{"position", "pool_jlp", "amm_config", "whirlpool", "lb_pair"} {
		for _, f := range fixtures {
			if f.name != name {
				continue
			}
			for idlName, want := range f.ExpectedByIDL {
				if idlName != "idl.json" {
					continue
				}
				p := loadIDL(b, filepath.Join(f.dir, idlName))
				b.Run(filepath.Base(f.dir)+"/"+name, func(b *testing.B) {
					buf := make([]byte, 0, 16<<10)
					b.SetBytes(int64(want.BytesConsumed))
					b.ReportAllocs()
					for b.Loop() {
						out, _, err := p.AppendDecode(buf[:0], f.data)
						if err != nil {
							b.Fatal(err)
						}
						buf = out
					}
				})
			}
		}
	}
}
