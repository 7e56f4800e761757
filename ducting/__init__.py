"""BEDELAU Ducting: the shared underground duct network of Batam."""

__version__ = "0.1.0"
