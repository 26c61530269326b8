module github.com/firehole/firehole/pkg

go 1.26

require github.com/firehole/firehole/proto v0.0.0

replace github.com/firehole/firehole/proto => ../proto
