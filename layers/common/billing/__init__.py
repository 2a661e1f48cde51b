"""Shared layer of the subscription-billing backend: the billing domain and its adapters.

The first import of the layer leaves everything the process holds so far out of Python's cyclic
collector (`gc.freeze`): the runtime's modules and the libraries a handler imported first live as
long as the process, and the collector's passes while the rest of the function loads, and in
every request after, then go over what was made since. Without it, the objects of a function's
own modules were enough for several handlers to pay a full collection at every cold start that
their floor does not (docs/performance.md, the collector column)."""

import gc

gc.freeze()
