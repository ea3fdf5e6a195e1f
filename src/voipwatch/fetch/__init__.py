"""Fetching OONI measurements: a local mirror of the bulk bucket, or small API pulls.

:mod:`~voipwatch.fetch.layout` knows the bucket's key layout and parses what a
fetch asks for (pure); :mod:`~voipwatch.fetch.bucket` reads an S3 bucket
anonymously over HTTP(S); :mod:`~voipwatch.fetch.mirror` plans and runs the
downloads (parallel, resumable, verified); :mod:`~voipwatch.fetch.api` pulls a few
measurements from the OONI API, within its rate limits.
"""
