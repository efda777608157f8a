"""One repo2docker build through its Python API, run as a child process of the repo2docker builder.

A child process because repo2docker picks its container CLI from ``DOCKER_HOST`` when it is imported (``podman``
when the socket's name says so) and configures logging globally; the portal's process stays untouched and a
build that hangs can be killed. Usage: ``python -m portal.environments.r2d_build REPO IMAGE [--push]``; prints the
build's log and exits non-zero, with the reason on the last line, when no image was built (or pushed).
"""

from __future__ import annotations

import logging
import sys


def main(argv: list[str]) -> int:
    repo, image, push = argv[0], argv[1], "--push" in argv[2:]
    from repo2docker.app import Repo2Docker

    r2d = Repo2Docker()
    r2d.repo = repo
    r2d.output_image_spec = image
    r2d.user_id, r2d.user_name = 1000, "jovyan"  # repo2docker refuses root as the image's user
    r2d.run = False
    r2d.push = push
    r2d.log_level = logging.INFO
    r2d.initialize()
    try:
        r2d.build()
    except SystemExit as exc:  # repo2docker exits on an unreachable engine
        print(f"repo2docker gave up (exit {exc.code}): no container engine answered", flush=True)
        return 2
    except Exception as exc:
        print(f"repo2docker failed: {type(exc).__name__}: {exc}", flush=True)
        return 1
    if not push and not r2d.find_image():
        print(f"repo2docker finished but the engine has no image {image}", flush=True)
        return 1
    print(f"built {image}" + (" and pushed it" if push else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
