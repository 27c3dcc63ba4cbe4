import sys

from cartoonlab.cli import main

sys.exit(main())
