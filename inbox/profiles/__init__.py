"""Customers, their identities across channels, and how messages find them."""
