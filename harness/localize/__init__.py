"""The localizer: the first node where the numbers go wrong (the optimizer, a runtime kernel, or the
exporter's translation of a module). ``localize.localize`` does it; ``command`` is alog-matrix localize."""
