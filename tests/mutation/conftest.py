"""Keep pytest (and ``--doctest-modules``) out of the mutation-testing scripts.

The scripts here are run by hand (see README.md); they are not tests and must not be
imported during collection.
"""

collect_ignore_glob = ["*.py"]
