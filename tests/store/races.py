"""Starting writers together, for the race tests (STYLE 6).

:func:`race` runs each worker in its own thread, released at once by a barrier, and
hands back what they raised, so a test asserts on the outcome after all are done —
never on how long anything took.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def race(*workers: Callable[[], None]) -> list[BaseException]:
    """Run the workers in threads that start together; return what they raised."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(worker: Callable[[], None]) -> None:
        barrier.wait()
        try:
            worker()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
