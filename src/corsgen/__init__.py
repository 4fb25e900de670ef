"""corsgen: typed CORS policies rendered into nginx, Apache, Caddy, HAProxy and Traefik config."""

__version__ = "0.1.0"
