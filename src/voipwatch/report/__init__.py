"""What voipwatch shows: Vega-Lite chart specs and the advocacy briefs.

``charts`` builds the specs (pure: rows in, spec out) that the dashboard draws in
the browser and ``render`` draws on the server; ``brief`` gathers a country's
evidence from the store and writes it as HTML or PDF.
"""
