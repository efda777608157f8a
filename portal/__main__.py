"""`python -m portal`: the `portal` command, for child processes started with this interpreter."""

from portal.cli import main

if __name__ == "__main__":
    main(prog_name="portal")
