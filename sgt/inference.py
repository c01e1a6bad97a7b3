"""Running trained models, with an in-process LRU cache of loaded networks.

The key is (model id, weights version): a new training run bumps the version, so a
stale network is never used, and old entries simply age out.
"""

import threading
from collections import OrderedDict

from django.conf import settings

from .model_types import network_from_bytes, predict
from .selectors import read_weights


class NetworkCache:
    def __init__(self, size):
        self.size = size
        self._entries = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            network = self._entries.get(key)
            if network is not None:
                self._entries.move_to_end(key)
            return network

    def put(self, key, network):
        with self._lock:
            self._entries[key] = network
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self):
        with self._lock:
            self._entries.clear()

    def __len__(self):
        return len(self._entries)


cache = NetworkCache(settings.SGT_NETWORK_CACHE_SIZE)


def network_for(model):
    key = (model.pk, model.weights_version)
    network = cache.get(key)
    if network is None:
        network = network_from_bytes(model.model_type, model.in_size, model.out_size, read_weights(model))
        cache.put(key, network)
    return network


def run_network(model, inputs):
    return predict(network_for(model), model.model_type, inputs)
