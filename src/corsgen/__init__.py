"""corsgen: typed CORS policies rendered into nginx, Apache httpd, Caddy and HAProxy config."""

__version__ = "0.1.0"
