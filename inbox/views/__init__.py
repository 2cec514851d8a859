"""HTTP and HTML views: parse, check access, call an action, render."""
