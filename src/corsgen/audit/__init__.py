"""`corsgen audit` and `corsgen import`: a server's whole config, read into its target's routing
model (routing.py, targets/NAME_routing.py), sent probe's battery and judged as `probe` judges a
live server (engine.py), each answer read for what is wrong whatever the plan (answers.py), its
origin regexes held to corsgen's own proof (regexes.py), its grants read in corsgen's terms
(granted.py), and the findings (reported.py) written for people, scripts and CI (formats.py)."""
