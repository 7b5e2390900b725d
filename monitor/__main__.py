"""`python -m monitor`: the `newsmon` command, for when the console script is not on PATH."""

from monitor.cli import main

if __name__ == "__main__":
    main()
