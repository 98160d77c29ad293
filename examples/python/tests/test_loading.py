"""Which library is loaded: $LOYALTY_LIBRARY when set, else libloyalty.so.1 through the system loader."""

from __future__ import annotations

import os
import subprocess
import sys
import unittest

import support

PROBE = "import loyalty; print(loyalty.library_version())"


def probe(**environment: str | None) -> subprocess.CompletedProcess:
    """A fresh interpreter (the library is loaded once per process) that loads it and prints its version."""
    env = {k: v for k, v in {**os.environ, **environment}.items() if v is not None}
    return subprocess.run([sys.executable, "-c", PROBE], cwd=support.PACKAGE_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


class LoadingTest(unittest.TestCase):
    def test_a_library_path_that_does_not_exist_is_a_library_error_that_names_the_variable(self):
        result = probe(LOYALTY_LIBRARY="/nonexistent/libloyalty.so.1")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("loyalty.errors.LibraryError", result.stderr)
        self.assertIn("LOYALTY_LIBRARY", result.stderr)

    def test_a_library_that_is_not_libloyalty_is_refused(self):
        result = probe(LOYALTY_LIBRARY="libc.so.6")
        self.assertIn("loyalty.errors.LibraryError", result.stderr)
        self.assertIn("no loy_version", result.stderr)

    @unittest.skipUnless(os.environ.get("LOYALTY_LIBRARY"), "the library is installed: nothing to point the loader at")
    def test_without_the_variable_the_system_loader_finds_libloyalty_so_1(self):
        folder = os.path.dirname(os.path.abspath(os.environ["LOYALTY_LIBRARY"]))
        result = probe(LOYALTY_LIBRARY=None, LD_LIBRARY_PATH=folder)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout.strip(), r"^1\.\d+\.\d+$")


if __name__ == "__main__":
    unittest.main()
