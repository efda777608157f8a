"""Two builds meeting a store without the base image make it once: the second waits and finds it made."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from portal.environments.base_image import ROOTFS_IMAGE, base_tag, ensure_base_image


class Store:
    """The part of the podman engine ensure_base_image uses: the images it holds and ``podman build``."""

    def __init__(self, root_dir: Path) -> None:
        self.root_dir = root_dir
        self.images: set[str] = {ROOTFS_IMAGE}
        self.builds = 0

    def image(self, ref: str) -> dict[str, Any] | None:
        return {"Id": ref} if ref in self.images else None

    def stream(self, *argv: str) -> Iterator[str]:
        self.builds += 1
        time.sleep(0.3)  # long enough for the other thread to arrive while this build runs
        self.images.add(argv[argv.index("-t") + 1])
        yield "exit 0"


def test_concurrent_builds_make_the_base_image_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    seen: list[list[str]] = []

    def build() -> None:
        seen.append(list(ensure_base_image(store, tmp_path, "host")))  # type: ignore[arg-type]

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert store.builds == 1 and base_tag() in store.images
    assert sorted(len(lines) for lines in seen) == [0, 1]  # one says it builds the base; the other found it
