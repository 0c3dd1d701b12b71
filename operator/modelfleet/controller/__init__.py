"""kopf handlers, reconcile, status and server-side apply: the only code that talks to Kubernetes."""
