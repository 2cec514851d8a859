"""Every state change in the product, one function each.

Each `do_*` runs in one transaction that writes the rows, an audit entry and
the outbox events; only after commit are the events handed to the hub.
Views and connectors call these and never write themselves.
"""
