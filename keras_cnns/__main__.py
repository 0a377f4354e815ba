import sys

from keras_cnns.cli import main

sys.exit(main())
