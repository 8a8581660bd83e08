import sys

from looper.launch import main

sys.exit(main())
