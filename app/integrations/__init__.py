"""Adapters to outside services (storage, ...): the only modules that import their SDKs."""
