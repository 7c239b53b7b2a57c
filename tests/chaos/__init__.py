"""The chaos run of issue 12: kubelet-style writing, rotation with gzip-and-delete and pod
churn, against the real agent killed and restarted and a fake Elasticsearch that fails;
every record written is counted against what arrived. `python -m tests.chaos --help`,
`scripts/soak.sh` for the full plan with three seeds; test_chaos.py runs a short one.

The one line it prints:

- `written`, `delivered` (arrived intact, once each), `lost` (no document arrived),
  `doubled` (documents beyond the first for one record), `corrupted` (text or pod differ);
- `from_gz`: records the agent read from compressed copies, from any records metric whose
  name or labels say gz/compressed (`?` when it has none; a kill loses its last second);
- `peak_rss_mib` (VmHWM, the largest over restarts), `max_lag_bytes` (shipper_lag_bytes);
- `rotations`, `gzipped` (files kubelet compressed), `kills`;
- `at_risk`: records kubelet removed (every copy) within 10 s of when they could first be
  delivered; a plan fair to the agent has 0, so every lost record is the agent's doing;
- `catch_up_s`: how long the agent took after the writing stopped;
- `lost_in`, when some were lost: where those records are at the end (`gz`: in a
  compressed copy, `gz_deleted`: in one kubelet deleted later as the oldest, `rotated`,
  `live`; `…_gc`: in such a file when its pod was removed).
"""
