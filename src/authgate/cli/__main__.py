"""`python -m authgate.cli`."""

from authgate.cli import main

main()
