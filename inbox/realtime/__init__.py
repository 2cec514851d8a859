"""Live fan-out of committed events to connected agents."""
