#!/usr/bin/python3
"""CTest entry of the Python bindings' suite: exit 77 (skipped) when this
python3 has no pytest, else run bindings/python/tests with pytest."""
import os
import sys

try:
    import pytest
except ImportError:
    print("SKIP: pytest is not installed for %s (Debian: python3-pytest)" % sys.executable)
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
# no .pytest_cache in the source tree
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", here] + sys.argv[1:]))
