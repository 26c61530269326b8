package sim

import (
	"fmt"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/grpczstd"
)

// rawUpdate is a SubscribeUpdate already encoded: the per-client filters
// field and the shared body. Concatenated protobuf fields form one message,
// so the body is encoded once and shared by every client.
type rawUpdate struct {
	prefix, body []byte
}

// codec is the "proto" codec plus pass-through of rawUpdate.
type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *rawUpdate:
		if len(m.prefix) == 0 {
			return mem.BufferSlice{mem.SliceBuffer(m.body)}, nil
		}
		return mem.BufferSlice{mem.SliceBuffer(m.prefix), mem.SliceBuffer(m.body)}, nil
	case proto.Message:
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	default:
		return nil, fmt.Errorf("marshal %T: not a protobuf message", v)
	}
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("unmarshal into %T: not a protobuf message", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}

// ZstdName is the grpc-encoding name of the zstd compressor.
const ZstdName = grpczstd.Name

// RegisterCompressors registers zstd and gzip with grpc. Call it from main
// or TestMain before any server or client starts; grpc's registry is not
// safe for concurrent change.
func RegisterCompressors() { grpczstd.Register() }
