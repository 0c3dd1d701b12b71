//go:build tools

// Package tools pins github.com/coredns/coredns: the local cluster's DNS (e2e/local) and the CoreDNS
// image of the local kind node image (e2e/kind/local), one binary for both (never compiled: build tag).
package tools

import (
	_ "github.com/coredns/coredns"
)
