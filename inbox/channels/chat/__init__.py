"""Live chat for website visitors: the widget, its session endpoint and its socket."""
