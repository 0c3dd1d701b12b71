//go:build tools

// Package tools pins sigs.k8s.io/cri-tools/cmd/crictl, built for the local kind node image (never compiled: build tag).
package tools

import (
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
