"""The `neuron-census` command, as installed by the wheel: the same command line as the Rust
binary, run by the same library."""

import sys

from neuron_census import _native


def main() -> None:
    """Runs `neuron-census` with this process's arguments and exits with its status."""
    sys.exit(_native.main(["neuron-census", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
