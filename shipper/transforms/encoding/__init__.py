"""Records to document bytes, with the fields of JSON application logs.

Kept free of imports: `shipper.config` reads `our_fields` without loading the pipeline.
"""
