"""The local control plane of modelfleet's tests and demo: etcd,
kube-apiserver, kube-controller-manager, kube-scheduler and kwok fake GPU
nodes, all on 127.0.0.1. See e2e/local/README.md."""
from .cluster import ClusterError, api_get, down, is_up, running, status, up
from .settings import CONTEXT, binary, kubeconfig_path, state_dir

__all__ = ["CONTEXT", "ClusterError", "api_get", "binary", "down", "is_up", "kubeconfig_path",
           "running", "state_dir", "status", "up"]
