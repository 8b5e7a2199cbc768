"""ML Lifecycle
"""

__version__ = "0.1"
