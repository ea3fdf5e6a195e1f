"""The OONI data format: reading raw measurements tolerantly, failure vocabulary.

Spec: https://github.com/ooni/spec/tree/master/data-formats
"""
