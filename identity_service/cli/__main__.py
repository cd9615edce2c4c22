"""``python -m identity_service.cli``."""

from identity_service.cli.main import main

main()
