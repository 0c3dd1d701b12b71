"""Pure functions from an LLMDeployment and its Plan to Kubernetes objects."""
