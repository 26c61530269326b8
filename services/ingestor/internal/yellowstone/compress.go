package yellowstone

import "github.com/firehole/firehole/pkg/grpczstd"

// RegisterCompressors makes gzip and zstd available to gRPC, so that the
// client advertises both in grpc-accept-encoding and can read a server's
// compressed responses. Call it from run before the first dial.
func RegisterCompressors() { grpczstd.Register() }
