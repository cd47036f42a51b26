"""Test plugins (loaded with FEATBENCH_PLUGIN_MODULES) and their dataset cards."""
