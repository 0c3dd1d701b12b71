//go:build tools

// Package tools pins kind, the CLI we build (never compiled: build tag).
package tools

import (
	_ "sigs.k8s.io/kind"
)
