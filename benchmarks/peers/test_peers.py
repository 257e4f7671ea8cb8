"""Tests of the bench-peers driver and of the peers' data (python3 -m unittest discover -s benchmarks/peers).

The driver's helpers need only the standard library; the data tests need numpy
and are skipped without it (it is in .venv-peers)."""

import ast
import math
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import run  # noqa: E402  (standard library only)

try:
    import numpy as np

    import peers
except ImportError:  # numpy missing: the data tests are skipped
    np = peers = None


def read(path):
    with open(path) as f:
        return f.read()


def peers_rows():
    """The keys of peers.py's ROWS, read without importing it."""
    tree = ast.parse(read(os.path.join(HERE, "peers.py")))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ROWS":
            return {k.value for k in node.value.keys}
    raise AssertionError("no ROWS in peers.py")


def go_rows():
    names = set()
    for f in ("rows.go", "peers.go"):
        names |= set(re.findall(r'Name:\s+"([^"]+)"', read(os.path.join(ROOT, "pkg", "bench", f))))
    return names


class DriverTest(unittest.TestCase):
    def test_ratio_is_a_speed_ratio(self):
        self.assertEqual(run.ratio(6.0, 2.0, "it/s"), "3.00x")  # gosde 6 it/s, peer 2 it/s
        self.assertEqual(run.ratio(0.5, 2.0, "s"), "4.00x")  # gosde 0.5 s, peer 2 s
        self.assertEqual(run.ratio(None, 2.0, "s"), "–")
        self.assertEqual(run.ratio(1.0, None, "it/s"), "–")

    def test_fmt(self):
        self.assertEqual(run.fmt(2.94e6, "path-steps/s"), "2.94 M")
        self.assertEqual(run.fmt(9.69, "it/s"), "9.69")
        self.assertEqual(run.fmt(0.134, "s"), "0.134 s")
        self.assertEqual(run.fmt(None, "s"), "–")

    def test_last_json(self):
        self.assertEqual(run.last_json("# backend\n{\"a\": 1}\nnoise\n{\"b\": 2}\n"), {"b": 2})
        self.assertIsNone(run.last_json("no json here\n"))

    def test_rows_exist_on_every_side(self):
        py, go = peers_rows(), go_rows()
        for row, _, setting, has_gosde, _ in run.ROWS:
            self.assertIn(row, py, f"{row} missing from peers.py")
            self.assertEqual(row in go, has_gosde, f"{row}: gosde has it: {row in go}, run.py says {has_gosde}")
            self.assertEqual(setting == "example", row.endswith("-ex"), row)
            self.assertIn(row[:3], run.UNITS, row)

    def test_write_atomic(self):
        import tempfile
        d = tempfile.mkdtemp()
        p = os.path.join(d, "sub", "x.json")
        run.write_atomic(p, "one")
        run.write_atomic(p, "two")
        self.assertEqual(read(p), "two")
        self.assertEqual(os.listdir(os.path.dirname(p)), ["x.json"])


@unittest.skipIf(np is None, "numpy not installed (it is in .venv-peers)")
class DataTest(unittest.TestCase):
    def test_segmented_cosine(self):
        ts, ys, keep = peers.segmented_cosine_data()
        self.assertEqual(len(ts), 22)
        self.assertEqual((ts[0], ts[-1]), (0.0, 2.0))
        np.testing.assert_allclose(ts[keep][[0, 9, 10, 19]], [0.3, 0.8, 1.2, 1.5])
        np.testing.assert_allclose(ys, np.cos(2 * math.pi * ts[keep]))

    def test_sine(self):
        ts, ys, keep = peers.sine_data()
        self.assertEqual(len(ts[keep]), 10)
        np.testing.assert_allclose(ys, 0.5 * np.sin(math.pi * ts) + 0.2)

    def test_spirals_lie_on_the_curves(self):
        # Without noise each window is consecutive points of one of the two
        # Archimedean spirals: r = b·t around (5, 0), or r = 50b/(stop+1−t)
        # around (−5, 0) at angle stop+1−t.
        stop, b, n = 6 * math.pi, 0.3, 500
        obs, ts = peers.spirals(20, n, noise=0.0, b=b)
        self.assertEqual(obs.shape, (20, 100, 2))
        np.testing.assert_allclose(ts, np.linspace(0, stop, n)[:100], rtol=1e-6)
        grid = np.linspace(0, stop, n)
        for w in obs.astype(np.float64):
            ccw = np.hypot(w[:, 0] - 5, w[:, 1])
            i0 = int(round(ccw[0] / b / (stop / (n - 1))))
            if 0 <= i0 <= n - 100 and np.allclose(ccw, b * grid[i0:i0 + 100], atol=1e-4):
                self.assertTrue(100 <= i0 < n - 100, i0)
                continue
            z = stop + 1 - grid
            r = 50 * b / z
            cw = np.stack((r * np.cos(z) - 5, r * np.sin(z)), axis=1)
            d = np.abs(cw[:, None, :] - w[None, 0, :]).sum(-1)
            i0 = int(np.argmin(d))
            np.testing.assert_allclose(w, cw[i0:i0 + 100], atol=1e-4)
            self.assertTrue(100 <= i0 < n - 100, i0)

    def test_latode_settings(self):
        self.assertEqual(peers.latode_setting("latode"), (900, 1000))
        self.assertEqual(peers.latode_setting("latodeadj-ex"), (1000, 500))


if __name__ == "__main__":
    unittest.main()
