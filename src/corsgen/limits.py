"""What corsgen accepts: sizes every server loads. docs/limits.md, generated from this file,
documents each one (docs/gen.py says what each bounds).

CG120 (`over-limit`) refuses a policy past any of these but the name's, which is CG116's.
tests/servers_test.py renders a policy at every limit at once and runs each server's config test.
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

# `corsgen audit` reads a server config and every file it includes (Caddy: imports),
# each a regular file of at most files.MAX_BYTES (64 MiB). These bound one run as a whole, so that
# no include graph, glob or variable costs more than one such file already may; past any of them
# verify refuses in one line that names the bound and what to change (server_config.ConfigBudget).
# Bytes read, all the files together, and for Caddy, which splices each import in where it is,
# the bytes with the imports written out: as much as one file may be. A real config, thousands of
# sites and a large geo map, is a few MiB; reading crossplane's or the Apache lexer's way takes
# about a quarter of a second per MiB.
MAX_CONFIG_BYTES = 64 * 1024 * 1024
# Files read (each once): a shared host with one file per site has a few thousand.
MAX_CONFIG_FILES = 10_000
# Includes within includes, and blocks (nginx) or sections (Apache) within blocks: httpd refuses
# a 129th level of includes ("Exceeded maximum include depth of 128"). It keeps the readers far
# from Python's 1,000 frames.
MAX_CONFIG_DEPTH = 128
# Directives (nginx) or lines (Apache, Caddy) read with every include written out where it is. A
# file included again where it was already read is not read again (nginx: into the same block;
# Apache: with the same sections and variables); Caddy splices in every import, so each counts.
# A site is some 50 with its includes; 250,000 take at most about 4.5 s and 300 MB on the 2-core
# machine (every one a location block, most of it crossplane's lexer; a block inherits from its
# parent once, however deep it nests), 6 s and 360 MB when each is a finding (230,000 nested in
# a snippet's location), while includes that multiply each other reach millions. Each directive
# or line parsed is read at least once, so a file of more is refused while it is parsed.
MAX_CONFIG_EXPANDED = 250_000
# Words (directive names and arguments) a run keeps in memory, at about 60 bytes each: 250,000
# directives of eight; a server_name of 3 million names once took 300 MB.
MAX_CONFIG_WORDS = 2_000_000
# Bytes Define and environment values (Apache's ${NAME}) write into the lines, counted each time
# one is written: real values are paths and host names, while 40 lines of Define, each doubling
# the one before, would write a terabyte (httpd itself takes 150 MB for 24 of them).
MAX_CONFIG_SUBSTITUTED = 16 * 1024 * 1024
# The JSON `caddy adapt` writes, which corsgen reads whole (json.loads takes up to 8 times its
# size): a site with a snippet is about 2 KiB of it, so the 250,000 lines a run reads make less
# than half of this, and a snippet imported into every site or a long value is refused by it.
MAX_ADAPTED_BYTES = 16 * 1024 * 1024
# Files and directories the globs of one manifest may read, all together, and parts of a glob from
# its first wildcard on (cors/**/*.toml has two). The walk's work is about their product, a second
# and a half at most on the 2-core machine (tests/globbing_test.py). A policy directory is rarely
# a hundredth of the entries, and a glob that reads more (`**` at the top of a monorepo) would slow
# every pre-commit run: its finding says to start the glob with the policies' directory.
MAX_GLOB_ENTRIES = 100_000
# Parts of a glob from its first wildcard on (cors/**/*.toml has two): each directory of the walk
# carries the parts it has matched, so this bounds the work per directory; a policy tree is rarely
# more than a few levels deep.
MAX_GLOB_PARTS = 16
# Routes one model matches a request against one by one, all its servers together: those its
# index cannot file under a host or a path prefix (a regex, a header or method alone, a negation,
# a wildcard host name). Traefik routers, Apache <LocationMatch>, regex and wildcard sections and
# <VirtualHost>s with a wildcard name, Caddy routes with such matchers (nested ones too), HAProxy
# rule lines and the use_backend lines that test no path prefix first, Envoy routes without a
# prefix or path. Each is tried on every request, and each scope's paths on every one: at this
# many an audit or an import takes at most about 10 s on the 2-core machine
# (tests/audit/routes_bounds_test.py; Traefik rules that read the Origin header, whose router
# no answer can be kept for, about 25 s). Routes filed by host or prefix are not counted: a request
# is tried against those under its own host and path only, so 3,000 take a few seconds, and the
# sizes above bound them. A real file-provider or httpd config has tens of the others. nginx has
# no such count: it looks its locations up in a tree, as nginx does.
MAX_CONFIG_ROUTES = 1_000
# Words (directive names and arguments) read with every include written out where it is: a long
# line included again after each change of a Define is walked again. Twice the words a run keeps,
# so that every file it keeps is walked at least once; about a second of the walk.
MAX_CONFIG_WALKED_WORDS = 4_000_000
# Directory entries the include globs of one run read, all of them together (a glob of nine `*`
# from / read the whole filesystem): as many as a manifest's globs may (MAX_GLOB_ENTRIES).
MAX_CONFIG_GLOB_ENTRIES = 100_000
# YAML documents `corsgen import` reads from one file of Ingress manifests (ingress/manifests.py):
# a `helm template` of a large chart prints a few hundred; the file's bytes are bounded by
# files.MAX_BYTES like any config's.
MAX_INGRESS_DOCUMENTS = 10_000
