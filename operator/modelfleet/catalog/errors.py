"""Why a model's config cannot be had, in words a person can act on.

Every error carries ``reason``, one CamelCase word the controller puts in the
Degraded condition, and a message that says what to change.
"""

from __future__ import annotations


class ModelUnavailable(Exception):
    reason = "ModelUnavailable"


class ModelNotCached(ModelUnavailable):
    reason = "ModelNotCached"


class GatedModel(ModelUnavailable):
    reason = "GatedModel"


class ModelNotFound(ModelUnavailable):
    reason = "ModelNotFound"


class RevisionNotFound(ModelUnavailable):
    reason = "RevisionNotFound"


class HubUnreachable(ModelUnavailable):
    reason = "HubUnreachable"


class HubTokenRefused(ModelUnavailable):
    """The Hub answered 401 or 403: the network is fine, the token (or its absence) is not."""

    reason = "HubTokenRefused"


class InvalidModelConfig(ModelUnavailable):
    reason = "InvalidModelConfig"
