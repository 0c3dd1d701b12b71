//go:build tools

// Package tools pins kubeadm, which kind runs inside its nodes, from the same
// Kubernetes release as e2e/local/gomod/kubernetes (never compiled: build tag).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kubeadm"
)
