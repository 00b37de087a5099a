import os
import sys

# The repository root, so tests run against the working tree without an install.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
