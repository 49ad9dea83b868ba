"""``python -m trainer`` and the ``tessera-train`` console script."""

import sys

from trainer.cli import main

if __name__ == "__main__":
    sys.exit(main())
