module github.com/modelfleet/modelfleet/benchmarks/router/loadgen

go 1.26
