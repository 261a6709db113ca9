"""Helpers shared by every app. This package holds no models."""
