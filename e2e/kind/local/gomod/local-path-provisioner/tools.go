//go:build tools

// Package tools pins github.com/rancher/local-path-provisioner, built for the local kind node image (never compiled: build tag).
package tools

import (
	_ "github.com/rancher/local-path-provisioner"
)
