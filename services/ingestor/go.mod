module github.com/firehole/firehole/services/ingestor

go 1.26

require (
	github.com/firehole/firehole/pkg v0.0.0
	github.com/firehole/firehole/proto v0.0.0
)

replace (
	github.com/firehole/firehole/pkg => ../../pkg
	github.com/firehole/firehole/proto => ../../proto
)
