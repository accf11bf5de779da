"""parity-edge runtime: count the ones in bit strings with an exported model, without TensorFlow."""

from .errors import BackendUnavailableError, InputError, ModelError, ParityEdgeError, UsageError

__all__ = ["ParityEdgeError", "InputError", "UsageError", "ModelError", "BackendUnavailableError"]
