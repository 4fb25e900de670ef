"""apache_hosts.Hosts, the <VirtualHost> lookup, against the rule it looks up (ApacheRoutes.host
before it was indexed, tried host by host): the first host on the port (or on none) with a name
that matches, else the first on the port. apache_routing_test.py holds that rule to httpd."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from corsgen.targets.apache_config_tree import Section, flatten, load, ports, server_names
from corsgen.targets.apache_hosts import Hosts

# Wildcards before and after exact names, a name on two ports, a host of no port, a name with a
# port, a name in upper case, and a host without a name.
CONFIG = """Listen 80
Listen 8080
<VirtualHost *:80>
    ServerName first.example
</VirtualHost>
<VirtualHost *:80>
    ServerName wild.example
    ServerAlias *.example
</VirtualHost>
<VirtualHost *:80>
    ServerName a.example
    ServerAlias b.example
</VirtualHost>
<VirtualHost *:8080>
    ServerName a.example
</VirtualHost>
<VirtualHost *:8080>
    ServerName C?.example:8080
    ServerAlias [xy].example
</VirtualHost>
<VirtualHost 127.0.0.1>
    ServerName any.port
</VirtualHost>
<VirtualHost *:80>
    ServerName b.example
    ServerAlias late.test
</VirtualHost>
<VirtualHost *:9000>
</VirtualHost>
"""
NAMES = [
    "first.example",
    "a.example",
    "b.example",
    "z.example",
    "c1.example",
    "x.example",
    "any.port",
    "late.test",
    "nothing.test",
    "wild.example",
]


def _linear(hosts: list[Section], name: str, port: int | None) -> Section | None:
    candidates = [h for h in hosts if port is None or port in ports(h) or not ports(h)]
    for host in candidates:
        for pattern in server_names(host):
            if fnmatch.fnmatchcase(name, pattern.rsplit(":", 1)[0]):
                return host
    return candidates[0] if candidates else None


@pytest.mark.parametrize("port", [80, 8080, 9000, 1, None])
@pytest.mark.parametrize("name", NAMES)
def test_the_lookup_chooses_the_host_the_rule_does(
    tmp_path: Path, name: str, port: int | None
) -> None:
    (tmp_path / "httpd.conf").write_text(CONFIG)
    top, _, _ = load(tmp_path / "httpd.conf")
    hosts = [s for s in flatten(top) if s.kind == "virtualhost"]
    expected = _linear(hosts, name, port)
    found = Hosts(hosts).host(name, port)
    assert found is expected, (name, port, found and found.at, expected and expected.at)
    assert Hosts(hosts).wildcards() == 2
