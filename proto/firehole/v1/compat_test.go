package fireholev1

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/fields.golden")

// fields lists every field and enum value of the bus messages as
// "Message.field number kind" lines.
func fields() []string {
	var out []string
	fd := File_firehole_v1_bus_proto
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		for i := 0; i < md.Fields().Len(); i++ {
			f := md.Fields().Get(i)
			kind := f.Kind().String()
			if f.Message() != nil {
				kind = string(f.Message().FullName())
			}
			if f.Enum() != nil {
				kind = string(f.Enum().FullName())
			}
			if f.IsList() {
				kind = "repeated " + kind
			}
			out = append(out, fmt.Sprintf("%s.%s %d %s", md.FullName(), f.Name(), f.Number(), kind))
		}
	}
	for i := 0; i < fd.Messages().Len(); i++ {
		walk(fd.Messages().Get(i))
	}
	for i := 0; i < fd.Enums().Len(); i++ {
		e := fd.Enums().Get(i)
		for j := 0; j < e.Values().Len(); j++ {
			v := e.Values().Get(j)
			out = append(out, fmt.Sprintf("%s.%s %d enum", e.FullName(), v.Name(), v.Number()))
		}
	}
	sort.Strings(out)
	return out
}

// TestBusSchemaIsBackwardCompatible fails when a field or enum value that
// consumers rely on was removed, renumbered or retyped. Adding fields is
// allowed; record them with -update.
func TestBusSchemaIsBackwardCompatible(t *testing.T) {
	now := fields()
	if *updateGolden {
		if err := os.WriteFile("testdata/fields.golden", []byte(strings.Join(now, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open("testdata/fields.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	have := map[string]bool{}
	for _, l := range now {
		have[l] = true
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !have[l] {
			t.Errorf("bus.proto broke compatibility: %q is gone or changed (v1 only adds fields)", l)
		}
	}
}
