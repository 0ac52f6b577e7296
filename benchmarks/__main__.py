"""``python -m benchmarks``: the main benchmark (ParqueDB beside its anchors, with every
ratio and each speed target named met or missed); see :mod:`benchmarks.run` for options."""

from benchmarks.run import main

raise SystemExit(main())
