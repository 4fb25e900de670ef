"""`corsgen import` of Ingress manifests: for each Ingress with ingress-nginx CORS, the corsgen
policy ingress-nginx actually enforces where corsgen can state it, else the nearest that never
widens it, with a comment at every key naming the annotation's line, `# Dropped:` for what was
narrowed and `# Differs:` for each place where the annotation's text and its effect differ.

The enforced block (enforced.py) becomes a routing.Granted, the grant the server-config import
reads from its models, and goes through the same nearest_safe and writer (audit/granted.py,
importing.py). What ingress-nginx allows that no corsgen policy states is narrowed here first:
its one-label wildcard becomes an anchored regex of one lower-case label (not corsgen's any-depth
wildcard), each origin is matched whole and in the lower case browsers send (not ~* anchored at
the end only), and a methods or headers list browsers cannot parse (every preflight fails) allows
no method or header. `*` with credentials is left to nearest_safe: browsers refuse a credentialed
read of `*`, so the policy is `*` without them. tests/ingress/import_test.py holds the written
policies, served by corsgen's nginx output, to never more than the block on the real nginx.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from corsgen.audit.engine import MAX_SCOPES
from corsgen.audit.granted import NothingLeft, nearest_safe, valid_name
from corsgen.fetch import ParseFailure, normalize_method, token_list
from corsgen.importing import Policy, checked_plan, distinct, policy_text
from corsgen.ingress.enforced import Enforced, enforced
from corsgen.ingress.manifests import Ingress
from corsgen.plan import Plan
from corsgen.routing import Granted, OriginRegex, Scope

# The policy key each annotation gives (enable-cors: what no annotation says comes with it).
_KEYS = {
    "allow_origins": "cors-allow-origin",
    "allow_credentials": "cors-allow-credentials",
    "allow_methods": "cors-allow-methods",
    "allow_headers": "cors-allow-headers",
    "expose_headers": "cors-expose-headers",
    "max_age": "cors-max-age",
    "preflight_status": "enable-cors",
}


@dataclass
class Imported:
    """One Ingress: what ingress-nginx enforces, and the policy written (policy.path None: none)."""

    ingress: Ingress
    enforced: Enforced
    policy: Policy
    plan: Plan | None = None


def scope(ingress: Ingress) -> Scope:
    """The Ingress as importing.py names a place in the policy's header."""
    host = ingress.hosts[0] if ingress.hosts else ""
    return Scope(ingress.at, host, ingress.paths or ("/",), ingress.title)


def name(ingress: Ingress) -> str:
    """A policy name from the Ingress's: api-v1 is api_v1."""
    return valid_name(re.sub(r"[^a-z0-9]+", "_", ingress.name.lower()).strip("_"))


def _one_label(origin: str) -> str:
    """https://*.example.com as a regex of one lower-case label, matched whole."""
    scheme, _, rest = origin.lower().partition("://")
    return f"{re.escape(scheme)}://" + re.escape(rest).replace(r"\*", "[a-z0-9-]+", 1)


def _tokens(value: str) -> list[str] | None:
    """A header's list as a browser parses it; None when it cannot."""
    try:
        return token_list([("List", value)], "List") or []
    except ParseFailure:
        return None


def granted(found: Enforced) -> tuple[Granted, list[str]]:
    """The block's grant in a policy's keys, narrowed to what corsgen can state, and each
    narrowing in words."""
    at = {key: found.at[annotation] for key, annotation in _KEYS.items()}
    listed = () if found.any_origin else found.origins
    narrowed = []
    if listed:
        narrowed.append(
            "origins are matched whole and in the lower case browsers send: an Origin that "
            "only ends in an allowed one, or is in another case, is refused (ingress-nginx's "
            "~* (...)$ allows it)"
        )
    methods, headers = _tokens(found.methods), _tokens(found.headers)
    if methods is None or headers is None:
        narrowed.append(
            "allow_methods and allow_headers are empty: browsers cannot parse what ingress-nginx "
            "sends, so every preflight fails today"
        )
        methods, headers = [], []
    # fetch() upper-cases these six: written in lower case they match no request.
    lower = [m for m in methods if normalize_method(m) != m]
    if lower:
        narrowed.append(f"allow_methods {', '.join(lower)}: in lower case they allow nothing")
    granted = Granted(
        origins=tuple(o.lower() for o in listed if "*" not in o),
        regexes=tuple(
            OriginRegex(_one_label(o), at["allow_origins"], "pcre", False, whole=True)
            for o in listed
            if "*" in o
        ),
        any_origin=found.any_origin,
        credentials=found.credentials,
        methods=tuple(m for m in methods if m not in lower),
        headers=tuple(headers),
        expose=tuple(_tokens(found.expose) or ()),
        max_age=found.max_age,
        preflight_status=204,
        at=at,
    )
    return granted, narrowed


_NONE = "ingress-nginx sends no CORS header for it"
_NOTHING = "corsgen accepts none of the origins it allows"


def enabling(ingresses: Sequence[Ingress]) -> list[Ingress]:
    """The Ingresses that speak of CORS (an enable-cors annotation, whatever its value)."""
    return [i for i in ingresses if "enable-cors" in i.annotations]


def imported(ingresses: Sequence[Ingress], out_dir: Path) -> list[Imported]:
    """A policy for each of the first MAX_SCOPES Ingresses that enable CORS, as the server-config
    import imports as many places (each is compared on a battery of a few hundred requests)."""
    chosen = enabling(ingresses)[:MAX_SCOPES]
    out = []
    for ingress, called in zip(chosen, distinct(map(name, chosen)), strict=True):
        found = enforced(ingress)
        where = scope(ingress)
        differs = [str(d) for d in found.differences]
        if not found.enabled or not found.origins:
            out.append(Imported(ingress, found, Policy(where, None, dropped=[_NONE, *differs])))
            continue
        grant, narrowed = granted(found)
        try:
            safe = nearest_safe(grant, called)
        except NothingLeft as nothing:
            dropped = [_NOTHING, *narrowed, *nothing.dropped, *differs]
            out.append(Imported(ingress, found, Policy(where, None, dropped=dropped)))
            continue
        safe.dropped[:0] = narrowed
        safe.at = {**safe.at, "name": ingress.at}
        path = out_dir / f"{called}.toml"
        text = policy_text(safe, where, differs)
        plan = checked_plan(text, path.name)
        out.append(Imported(ingress, found, Policy(where, path, text, safe.dropped), plan))
    return out
