"""Configs of many routes for each target, as the red team wrote them: `count` routers,
sections, sites, rules or routes, each with its own CORS, so that each is a scope the audit probes
and every request is routed past all the others (tests/audit/routes_bounds_test.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

_ALLOW = "Access-Control-Allow-Origin"


def _origin(i: int) -> str:
    return f"https://a{i}.example.com"


def traefik(count: int, regex: bool = False) -> str:
    # A regex router names no host either: one that did would be filed under it.
    rule = "PathRegexp(`^/p{i}/`)" if regex else "Host(`h{h}.example.com`) && PathPrefix(`/p{i}/`)"
    routers = "".join(
        f'    r{i}:\n      rule: "{rule.format(i=i, h=i % 10)}"\n'
        f"      middlewares: [c{i}]\n      service: app\n"
        for i in range(count)
    )
    middlewares = "".join(
        f"    c{i}:\n      headers:\n        accessControlAllowOriginList: [{_origin(i)}]\n"
        "        accessControlAllowMethods: [GET, PUT]\n        addVaryHeader: true\n"
        for i in range(count)
    )
    return (
        f"http:\n  routers:\n{routers}  middlewares:\n{middlewares}  services:\n"
        "    app:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:9\n"
    )


def apache(count: int, regex: bool = False) -> str:
    kind, path = ("LocationMatch", "^/p{i}/") if regex else ("Location", "/p{i}/")
    sections = "".join(
        f"    <{kind} {path.format(i=i)}>\n        Header always set {_ALLOW} {_origin(i)}\n"
        f"        Header always merge Vary Origin\n    </{kind}>\n"
        for i in range(count)
    )
    return (
        "Listen 127.0.0.1:8080\n<VirtualHost 127.0.0.1:8080>\n    ServerName api.example.com\n"
        f"{sections}    ProxyPass / http://127.0.0.1:9000/\n</VirtualHost>\n"
    )


def apache_hosts(count: int, regex: bool = False) -> str:
    """A mass host: `count` <VirtualHost>s on one port, each its own name (`regex`: a wildcard
    alias too, which is matched one by one)."""
    alias = "    ServerAlias *.s{i}.example.com\n" if regex else ""
    hosts = "".join(
        f"<VirtualHost 127.0.0.1:8080>\n    ServerName s{i}.example.com\n{alias.format(i=i)}"
        f"    Header always set {_ALLOW} {_origin(i)}\n    Header always merge Vary Origin\n"
        "    ProxyPass / http://127.0.0.1:9000/\n</VirtualHost>\n"
        for i in range(count)
    )
    return "Listen 127.0.0.1:8080\n" + hosts


def nginx(count: int, regex: bool = False) -> str:
    """Siblings nested in one location: the scope path of each is built from its parent's."""
    path = "~ ^/api/p{i}/" if regex else "/api/p{i}/"
    nested = "".join(
        f"  location {path.format(i=i)} {{ add_header {_ALLOW} {_origin(i)} always;"
        " add_header Vary Origin always; }\n"
        for i in range(count)
    )
    return f"server {{\n listen 80;\n location /api/ {{\n{nested} }}\n}}\n"


def caddy(count: int, regex: bool = False) -> str:
    matcher = "\t@p{i} path_regexp ^/p{i}/\n\thandle @p{i}" if regex else "\thandle /p{i}/*"
    handles = "".join(
        f"{matcher.format(i=i)} {{\n\t\theader {_ALLOW} {_origin(i)}\n\t\theader Vary Origin\n"
        "\t\trespond 200\n\t}\n"
        for i in range(count)
    )
    return "{\n\tadmin off\n}\n\nhttp://api.localhost:8080 {\n" + handles + "}\n"


def haproxy(count: int, regex: bool = False) -> str:
    test = "path_reg ^/p{i}/" if regex else "path_beg /p{i}/"
    acls = "".join(
        f"    acl p{i} {test.format(i=i)}\n    use_backend b{i} if p{i}\n" for i in range(count)
    )
    backends = "".join(
        f"backend b{i}\n    http-after-response set-header {_ALLOW} {_origin(i)}\n"
        "    http-after-response set-header Vary Origin\n    server s 127.0.0.1:9000\n"
        for i in range(count)
    )
    return (
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n"
        "    timeout server 10s\n\nfrontend web\n    bind 127.0.0.1:8080\n"
        f"{acls}    default_backend site\n\n{backends}backend site\n    server s 127.0.0.1:9000\n"
    )


_FILTERS = "type.googleapis.com/envoy.extensions.filters"


def envoy(count: int, regex: bool = False) -> str:
    match = '{{ safe_regex: {{ regex: "/p{i}/.*" }} }}' if regex else '{{ prefix: "/p{i}/" }}'
    routes = "".join(
        f"              - match: {match.format(i=i)}\n"
        "                route: { cluster: app }\n"
        "                typed_per_filter_config:\n                  cors:\n"
        f'                    "@type": {_FILTERS}.http.cors.v3.CorsPolicy\n'
        f'                    allow_origin_string_match: [{{ exact: "{_origin(i)}" }}]\n'
        for i in range(count)
    )
    return f"""static_resources:
  listeners:
  - name: main
    address:
      socket_address: {{ address: 127.0.0.1, port_value: 10000 }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": {_FILTERS}.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          http_filters:
          - name: cors
            typed_config:
              "@type": {_FILTERS}.http.cors.v3.Cors
          - name: router
            typed_config:
              "@type": {_FILTERS}.http.router.v3.Router
          route_config:
            virtual_hosts:
            - name: site
              domains: ["*"]
              routes:
{routes}              - match: {{ prefix: "/" }}
                route: {{ cluster: app }}
  clusters:
  - name: app
    connect_timeout: 1s
    type: STATIC
    load_assignment:
      cluster_name: app
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: 127.0.0.1, port_value: 9000 }}
"""


# Each target's generator and the name of the file it is written to.
# `regex`: each route matched by a regex, which no index finds: every request tries them all.
HOSTILE: Mapping[str, tuple[Callable[[int, bool], str], str]] = {
    "traefik": (traefik, "dynamic.yml"),
    "apache": (apache, "site.conf"),
    "apache-hosts": (apache_hosts, "site.conf"),
    "nginx": (nginx, "site.conf"),
    "caddy": (caddy, "Caddyfile"),
    "haproxy": (haproxy, "haproxy.cfg"),
    "envoy": (envoy, "envoy.yaml"),
}
