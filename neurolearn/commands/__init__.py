"""Sub-commands of the ``neurolearn`` CLI, one module each; every module exposes
``register(subparsers)``. Modules here parse arguments and call the library, nothing more."""
