package store

import "encoding/json"

func jsonValid(p []byte) bool { return json.Valid(p) }
