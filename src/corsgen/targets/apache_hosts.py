"""Which <VirtualHost> answers a request, found without trying every one (a mass host has
thousands): ApacheRoutes.host's rule, looked up. Among the hosts on the request's port (or on
none), the first in config order with a ServerName or ServerAlias that matches the host name;
when none does, the first of them. Names without a wildcard are found by the name itself (for
fnmatch a name without *, ? or [ matches only itself); those with one are matched one by one, in
order, and counted toward limits.MAX_CONFIG_ROUTES (wildcards()).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from corsgen.targets.apache_config_tree import Section, ports, server_names

_WILD = frozenset("*?[")


class Hosts:
    """The config's <VirtualHost>s in order, filed by port and exact name."""

    def __init__(self, hosts: Sequence[Section]) -> None:
        self.hosts = list(hosts)
        self.ports = [ports(host) for host in self.hosts]
        self.exact: dict[str, list[int]] = {}  # a name -> the hosts that have it, in order
        self.wild: list[tuple[int, list[str]]] = []  # hosts with a wildcard name, their names
        for position, host in enumerate(self.hosts):
            names = [pattern.rsplit(":", 1)[0] for pattern in server_names(host)]
            if any(_WILD & set(name) for name in names):
                self.wild.append((position, names))
                continue
            for name in dict.fromkeys(names):
                self.exact.setdefault(name, []).append(position)
        self.on_port: dict[int | None, tuple[set[int], int | None]] = {}

    def wildcards(self) -> int:
        """The hosts matched one by one: those with a wildcard name."""
        return len(self.wild)

    def _on(self, port: int | None) -> tuple[set[int], int | None]:
        """The hosts a request on port may reach, and the first of them (the default)."""
        if port not in self.on_port:
            found = [
                at
                for at, bound in enumerate(self.ports)
                if port is None or port in bound or not bound
            ]
            self.on_port[port] = (set(found), found[0] if found else None)
        return self.on_port[port]

    def host(self, name: str, port: int | None) -> Section | None:
        """The host that answers a request for name (lower case, no port) on port."""
        reached, default = self._on(port)
        found = [at for at in self.exact.get(name, ()) if at in reached]
        first = found[0] if found else None
        for at, names in self.wild:
            if first is not None and at > first:
                break
            if at in reached and any(fnmatch.fnmatchcase(name, n) for n in names):
                first = at
                break
        chosen = first if first is not None else default
        return None if chosen is None else self.hosts[chosen]
