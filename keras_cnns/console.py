"""Progress lines: `say("export", "converting", verbose)` prints `keras_cnns.export: converting`.

Every line also goes to the `keras_cnns.AREA` logger (at INFO), so an
application can route it through `logging` whatever `verbose` says.
"""

import logging


def say(area, message, verbose=1):
    """Logs `message` and, when `verbose` is true, prints it after its area's name, flushed at once."""
    logging.getLogger(f"keras_cnns.{area}").info(message)
    if verbose:
        print(f"keras_cnns.{area}: {message}", flush=True)
