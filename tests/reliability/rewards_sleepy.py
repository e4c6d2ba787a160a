"""A verifier that never answers (module-level so worker processes can unpickle it)."""

import time


class SleepForever:
    def score(self, completion, row):
        time.sleep(3600)
