"""What `corsgen audit` reads from an httpd config's structure, beside the routing model's answers:
the findings no request to the model shows (apache_routing.load_routes returns them with it).

The audit judges the model's answers for the rest, each checked on httpd 2.4.71: a snippet
rendered before corsgen answered preflights in <Directory>, <Location> or <Files> sends them into
authentication (CG416, at the Require line); where Options turns FollowSymLinks off, mod_rewrite
refuses every request with 403, preflights included (CG422 against the snippet's own lines);
two policies in one section, or in sections that overlap, both answer every path there (CG422
with --policy). A config that does not parse, an Include that leads back to itself or names no
file is CG401, found while the config is read (apache_config_tree.py). These are the rest:

- CG407: a module the snippets need that the config does not load. httpd refuses the config
  (Invalid command 'Header'), where the model runs every directive as if its module were loaded.
  Read only from a config that loads modules itself: one without LoadModule is taken to have them
  compiled in or loaded where httpd starts.
- CG406: nothing in the config answers CORS: no snippet, and no CORS header written by hand.
"""

from __future__ import annotations

from corsgen.errors import Finding
from corsgen.routing import Routes
from corsgen.rules.table import finding
from corsgen.targets.apache_config_tree import Section, flatten

# What the snippet needs: mod_authz_core for the preflight's `Require all granted` too.
NEEDED = ("headers", "setenvif", "rewrite", "authz_core")


def findings(top: Section, routes: Routes) -> list[Finding]:
    """Every structural finding of the config whose tree is `top`, by file and line."""
    sections = list(flatten(top))
    snippets = [snippet for section in sections for snippet in section.snippets]
    loaded = {
        d.args[0].removesuffix("_module")
        for section in sections
        for d in section.directives()
        if d.name == "loadmodule" and d.args
    }
    missing = [m for m in NEEDED if m not in loaded]
    found = []
    if snippets and loaded and missing:
        at = snippets[0].include
        module = ", ".join(f"mod_{m}" for m in missing)
        found.append(finding("CG407", "missing", file=at.file, line=at.line, module=module))
    if not snippets and not routes.scopes():
        found.append(finding("CG406", "none", file=top.at.file))
    return found
