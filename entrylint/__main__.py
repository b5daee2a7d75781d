import sys

from entrylint.faces.cli import main

sys.exit(main())
