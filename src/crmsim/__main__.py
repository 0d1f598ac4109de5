"""``python -m crmsim``: the same as the ``crmsim`` command."""

from crmsim._launch import main

if __name__ == "__main__":
    main()
