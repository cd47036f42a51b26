"""A plugin module whose import calls sys.exit(4)."""
import sys

sys.exit(4)
