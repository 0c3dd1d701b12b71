// Command loadgen is the router benchmark's fake engine and load client, in Go so that neither is the
// bottleneck on a 2-core machine: the proxy under test is what the benchmark measures.
//
//	loadgen backend -listen 127.0.0.1:9001
//	loadgen client  -url http://127.0.0.1:8080/v1/completions -concurrency 100 -duration 20s ...
//	loadgen hold    -url ... -concurrency 1000 -ready-file F   (opens requests that get no answer yet)
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen backend|client|hold [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "backend":
		err = runBackend(os.Args[2:])
	case "client":
		err = runClient(os.Args[2:])
	case "hold":
		err = runHold(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
