"""Settings derived from several variables: the table's `resolve` functions."""
