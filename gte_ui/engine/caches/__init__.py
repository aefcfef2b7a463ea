"""The embedding caches: the in-process LRU (:mod:`.local`) and the shared Redis tier (:mod:`.shared`)."""
