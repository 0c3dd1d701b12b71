"""modelfleet: a Kubernetes operator for fleets of vLLM and TGI servers."""

__version__ = "0.1.0"
