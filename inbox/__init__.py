"""A collaborative shared inbox for customer service teams."""
