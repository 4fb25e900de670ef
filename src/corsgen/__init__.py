"""corsgen: typed CORS policies rendered into nginx, Apache httpd and Caddy configuration."""

__version__ = "0.1.0"
