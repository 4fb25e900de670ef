"""`corsgen audit` and `corsgen import`: a server's whole config, read into its routing model
(routing.py, targets/NAME_routing.py), probed as `probe` probes a live server (engine.py), its
origin regexes held to corsgen's own proof (regexes.py), its grants read as corsgen's terms
(granted.py), and the findings written for people, scripts and CI (formats.py)."""
