import sys

from harness.parity.replay import main

sys.exit(main())
