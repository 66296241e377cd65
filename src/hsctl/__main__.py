"""Allow ``python -m hsctl`` (and ``torchrun -m hsctl``)."""

from hsctl.cli.main import run

if __name__ == "__main__":
    run()
