//go:build tools

// Package tools pins github.com/coredns/coredns, built for the local kind node image (never compiled: build tag).
package tools

import (
	_ "github.com/coredns/coredns"
)
