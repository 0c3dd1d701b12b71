//go:build tools

// Package tools pins the commands we build, so `go mod tidy` keeps their
// dependencies in go.sum. Never compiled (build tag).
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
