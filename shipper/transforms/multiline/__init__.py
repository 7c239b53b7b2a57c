"""Stack traces joined into one record, by rules per runtime."""
