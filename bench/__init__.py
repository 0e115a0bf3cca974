"""bench: measured answers to "which optimizer / schedule / activation / regularizer?" and gradient health."""

__version__ = "0.1.0"
