"""A plugin module whose import raises KeyboardInterrupt."""
raise KeyboardInterrupt
