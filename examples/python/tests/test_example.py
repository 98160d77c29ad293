"""checkout.py against a real headquarters (examples/with-hq.sh), when LOYALTY_HQ names loyalty-hq."""

from __future__ import annotations

import os
import subprocess
import sys
import unittest

import support

WITH_HQ = support.PACKAGE_ROOT.parent / "with-hq.sh"
EXAMPLE = support.PACKAGE_ROOT / "checkout.py"


@unittest.skipUnless(os.environ.get("LOYALTY_HQ"), "LOYALTY_HQ (the path of loyalty-hq) is not set")
class CheckoutExampleTest(unittest.TestCase):
    def test_the_whole_checkout_flow_runs_against_headquarters(self):
        result = subprocess.run(["bash", str(WITH_HQ), os.environ["LOYALTY_HQ"], sys.executable, str(EXAMPLE)],
                                capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        lines = result.stdout.splitlines()
        self.assertRegex(lines[0], r"^opened: libloyalty 1\.\d+\.\d+$")
        self.assertRegex(lines[1], r"^synced: 0 sent, 0 applied, [1-9]\d* members$")
        self.assertTrue(lines[2].startswith("member M-1001 ("), lines[2])
        self.assertIn("retry of R-PY-0001: replayed, no second sale", lines)
        self.assertTrue(any(line.startswith("status: outbox 0, ") for line in lines), lines)
        self.assertEqual(lines[-1], "done")


if __name__ == "__main__":
    unittest.main()
