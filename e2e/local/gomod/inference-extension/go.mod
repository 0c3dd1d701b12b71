// The Gateway API Inference Extension release whose CRDs (config/crd/bases) the tests install: the GA
// InferencePool, inference.networking.k8s.io/v1. Nothing is built from it: localcluster/inference_extension.py
// downloads the module (go mod download, checked against go.sum) and copies its CRDs into the cache.
module modelfleet.io/e2e/local/gomod/inference-extension

go 1.26.0

require sigs.k8s.io/gateway-api-inference-extension v1.6.2
