"""What corsgen accepts: sizes every server loads. README.md, "Limits", documents each one.

CG120 (`over-limit`) refuses a policy past any of these but the name's, which is CG116's.
tests/limits_test.py renders a policy at every limit at once and runs each server's config test.
"""

from __future__ import annotations

# The name is in every nginx variable, the longest being corsgen_NAME_private_network_ok. nginx's
# default variables_hash_bucket_size (64) holds a name of at most 46 characters: 46 - 8 - 19.
MAX_NAME_LENGTH = 19
MAX_ORIGINS = 100_000
# https:// + a 253-character host + :65535 is 267; custom schemes get the rest.
MAX_ORIGIN_LENGTH = 300
# allow_methods, allow_headers, expose_headers: entries per list, characters per entry.
MAX_LIST_ENTRIES = 1_000
MAX_TOKEN_LENGTH = 256
# A list is sent as one header, its names joined by ", ". A preflight carries two such headers and
# a response one: at 16 KiB each they stay far under Chromium's 256 KiB for a whole response head
# (past which it fails the request) and under the 64 KiB line Python's http.client reads.
MAX_HEADER_VALUE = 16_384
# The largest signed 32-bit integer: no server or client that reads Max-Age into an int overflows.
MAX_MAX_AGE = 2**31 - 1
# The regex is proven safe on its automaton, whose states the proof bounds (regex/backtracking.py,
# MAX_STATES, 1,200): a literal regex of this length stays within them. Its nginx map key, written
# out and with backslashes doubled, is checked against nginx's parameter length (targets/nginx.py).
MAX_REGEX_LENGTH = 1_000
# Values (separators) a TOML file may hold before it is parsed, and findings shown for one file.
MAX_FILE_VALUES = 250_000
MAX_FINDINGS = 50
# Files and directories the globs of one manifest may read, all together: a repository's whole
# tree is rarely a tenth of it, and a glob that walks more is a mistake (`**` at the top of a
# monorepo) that would make every pre-commit run slow.
MAX_GLOB_ENTRIES = 200_000
