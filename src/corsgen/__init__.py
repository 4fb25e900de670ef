"""corsgen: typed CORS policies as nginx, Apache, Caddy, HAProxy, Traefik and Envoy config."""

__version__ = "0.2.0"
