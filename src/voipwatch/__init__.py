"""voipwatch: an open observatory for the blocking of VoIP and messaging apps."""

__version__ = "0.1.0"
__all__ = ["__version__"]
